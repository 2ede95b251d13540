"""The A32 row requirement (a row flag such as `v4t`, `idiv` or `vfp` in encoders/a32/*.tbl,
kept in im_form.req and checked by `imago asm` against .arch,
.arch_extension and .fpu, docs/asm.md): tools/gentables.py's numbers are form.h's
IM_A32R_* enum, a row gets its number, a second requirement on a row and a requirement
in another architecture's table are refused.
"""

import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import gentables  # noqa: E402


def form_h_enum():
    with open(os.path.join(ROOT, "encoders", "core", "form.h")) as f:
        text = f.read()
    body = re.search(r"enum \{\s*IM_A32R_NONE,(.*?)IM_A32R_COUNT", text, re.S).group(1)
    return [m.lower() for m in re.findall(r"IM_A32R_(\w+)", body)]


def test_numbers_match_form_h():
    names = form_h_enum()
    assert names, "no IM_A32R_ enum in form.h"
    want = {n: i + 1 for i, n in enumerate(names)}
    assert gentables.A32_REQUIRES == want, (
        "tools/gentables.py A32_REQUIRES and form.h IM_A32R_* differ:\n%s\n%s"
        % (sorted(gentables.A32_REQUIRES.items(), key=lambda x: x[1]),
           sorted(want.items(), key=lambda x: x[1])))
    assert max(want.values()) < 256, "im_form.req holds 8 bits"


def run_gentables(tmp_path, edit):
    """gentables over a copy of encoders/ with edit(dir) applied: (status, stderr, out dir)."""
    tables = tmp_path / "encoders"
    shutil.copytree(os.path.join(ROOT, "encoders"), str(tables),
                    ignore=shutil.ignore_patterns("*.c", "*.h", "*.o"))
    edit(str(tables))
    out = tmp_path / "gen"
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gentables.py"),
                        "--tables", str(tables), "-o", str(out / "stamp.h")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    return p.returncode, p.stderr, out


def append_row(path, row):
    with open(path, "a") as f:
        f.write(row + "\n")


def test_row_gets_its_number(tmp_path):
    rc, err, out = run_gentables(tmp_path, lambda d: append_row(
        os.path.join(d, "a32", "dp.tbl"),
        "sdiv_t | sdiv{c:cond} {Rd:r}, {Rn:r}, {Rm:r} | c:4 0111 0001 Rd:4 1111 Rm:4 0001 Rn:4 | idiv"))
    assert rc == 0, err
    with open(str(out / "a32_tbl.h")) as f:
        text = f.read()
    m = re.search(r'\.id = "sdiv_t".*?\.req = (\d+)', text, re.S)
    assert m, "no sdiv_t row in the generated table"
    assert int(m.group(1)) == gentables.A32_REQUIRES["idiv"]


def test_two_requirements_refused(tmp_path):
    rc, err, _ = run_gentables(tmp_path, lambda d: append_row(
        os.path.join(d, "a32", "dp.tbl"),
        "sdiv_t | sdiv{c:cond} {Rd:r}, {Rn:r}, {Rm:r} | c:4 0111 0001 Rd:4 1111 Rm:4 0001 Rn:4 | idiv v7"))
    assert rc != 0 and "one feature at most" in err, err


def test_requirement_outside_a32_refused(tmp_path):
    def edit(d):
        tbl = sorted(f for f in os.listdir(os.path.join(d, "a64")) if f.endswith(".tbl"))[0]
        path = os.path.join(d, "a64", tbl)
        with open(path) as f:
            rows = [ln for ln in f if ln.strip() and not ln.startswith("#")]
        # the first row of the table again, under a new id, with a requirement flag
        cols = rows[0].rstrip("\n").split("|")
        append_row(path, "|".join(["req_test "] + cols[1:3] + [" v4t"]))
    rc, err, _ = run_gentables(tmp_path, edit)
    assert rc != 0 and "unknown flag 'v4t'" in err, err
