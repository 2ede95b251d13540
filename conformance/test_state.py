"""Per-instruction state checks (docs/testing.md, "State checks").

`imago state` runs K random cases of every x86 form on the native engine (the
ground truth) and on the engine of the test, and prints every divergence: a GPR,
a flag the architecture defines (state/x86-undefined-flags.tsv masks the others),
the branch taken or not, the scratch block, or a fault on one side only. Each
divergence must be listed in state/known-divergences.tsv (engine, form, what,
evidence), and each listed one must still reproduce. state/x86-implicit.tsv aims the
implicit operands (rsi, rdi, rcx, DF of the string operations; the target of jmp/call
through r/m and of ret) into the scratch block and the code. The native cell runs native
alone: every case must run or fault, and its counts go to the report.

aarch64 has no ground truth on a machine that is not aarch64: its engines are compared
with a reference (`--reference`: native on an aarch64 machine, else qemu). The reference
cell runs the reference alone; the other cells compare an engine with it. Rules:
state/a64-notrun.tsv (forms and texts not run: brk, hlt, svc, hvc, smc, system registers
other than nzcv/fpcr/fpsr/tpidr_el0), state/a64-implicit.tsv (br/blr/ret: the register
holds the taken marker's address; the store-exclusives: every other case runs with the
exclusive monitor opened by a load-exclusive of the same size on the same address right
before the instruction, the others with it closed by clrex, and the status must read 0,
resp. 1 with the scratch block untouched, on every engine), state/a64-undefined.tsv (what a form leaves UNKNOWN),
state/a64-known-divergences.tsv (TARGET, ENGINE, REFERENCE, FORM, WHAT, EVIDENCE).

arm (A32) is checked the same way (qemu the reference off an arm machine, unicorn compared
with it), with state/a32-notrun.tsv, a32-implicit.tsv (bx: the target; the
store-exclusives' monitor), a32-undefined.tsv and a32-known-divergences.tsv. Its
conditional forms run with NZCV that pass their condition in even cases and fail it in odd
ones: imago state prints how many cases ran and how many were skipped by their condition
("cond" lines), and a skipped case must leave every register, APSR, FPSCR and the scratch
block as they were, on every engine (a "cond" divergence otherwise).

test_state_scaffold checks the fixed code around each instruction (`imago state
--scaffold`: its bytes and assembler text) byte for byte against GNU as.

Knobs: IMAGO_STATE_CASES (K, default 16), IMAGO_STATE_SEED (default 1),
IMAGO_STATE_SHARDS (tests per target x engine, default 2).
"""

import fnmatch
import os

import pytest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
STATE_DIR = os.path.join(HERE, "state")
UNDEFINED = os.path.join(STATE_DIR, "x86-undefined-flags.tsv")
NOTRUN = os.path.join(STATE_DIR, "x86-notrun.tsv")
IMPLICIT = os.path.join(STATE_DIR, "x86-implicit.tsv")
KNOWN = os.environ.get("IMAGO_STATE_KNOWN") or os.path.join(STATE_DIR, "known-divergences.tsv")
STATE_TARGETS = ("x86_64", "i386")
A64 = "aarch64"
A64_NOTRUN = os.path.join(STATE_DIR, "a64-notrun.tsv")
A64_IMPLICIT = os.path.join(STATE_DIR, "a64-implicit.tsv")
A64_UNDEFINED = os.path.join(STATE_DIR, "a64-undefined.tsv")
A64_KNOWN = os.environ.get("IMAGO_STATE_A64_KNOWN") or os.path.join(STATE_DIR,
                                                                    "a64-known-divergences.tsv")
A32 = "arm"
A32_NOTRUN = os.path.join(STATE_DIR, "a32-notrun.tsv")
A32_IMPLICIT = os.path.join(STATE_DIR, "a32-implicit.tsv")
A32_UNDEFINED = os.path.join(STATE_DIR, "a32-undefined.tsv")
A32_KNOWN = os.environ.get("IMAGO_STATE_A32_KNOWN") or os.path.join(STATE_DIR,
                                                                    "a32-known-divergences.tsv")
# Targets compared with a reference engine where the machine does not run them natively.
REFERENCED = (A32, A64)
# GNU as options the A32 scaffold needs beyond harness.TOOLS (vldm/vstm of d16-d31, vmrs).
SCAFFOLD_AS = {A32: ["-march=armv7-a+idiv", "-mfpu=neon"]}
DEFAULT_CASES = 16
CASES = int(os.environ.get("IMAGO_STATE_CASES") or DEFAULT_CASES)
SEED = os.environ.get("IMAGO_STATE_SEED") or "1"
SHARDS = int(os.environ.get("IMAGO_STATE_SHARDS") or 2)


def reference(target):
    """The engine a target's engines are compared with: native where the machine runs the
    target, else (arm or aarch64 on another machine) qemu."""
    return "native" if "native" in harness.engines_for(target) else "qemu"


def _cells():
    out = []
    for t in STATE_TARGETS + (A32, A64):
        engines = harness.engines_for(t)
        if "native" not in engines and t not in REFERENCED:
            continue  # no ground truth on this machine
        # arm and aarch64 elsewhere: native is not offered, qemu is the reference
        for e in engines:
            for s in range(1, SHARDS + 1):
                out.append(pytest.param(t, e, s, id="%s-%s-%d" % (t, e, s)))
    return out


def load_known(path=KNOWN):
    """{(target, engine, reference, form, what): evidence} from a known-divergence file:
    the x86 one (TARGET ENGINE FORM WHAT EVIDENCE, against native) or the aarch64 and arm
    ones (TARGET ENGINE REFERENCE FORM WHAT EVIDENCE)."""
    known = {}
    if not os.path.exists(path):
        return known
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = [p.strip() for p in line.split("\t")]
            if len(parts) == 5 and all(parts):
                parts.insert(2, "native")
            if len(parts) != 6 or not all(parts):
                raise ValueError("%s:%d: expected TARGET<TAB>ENGINE<TAB>[REFERENCE<TAB>]FORM"
                                 "<TAB>WHAT<TAB>EVIDENCE" % (harness.rel(path), n))
            known[tuple(parts[:5])] = parts[5]
    return known


def parse(out):
    """imago state's lines: {"notrun": {form: reason}, "forms": {engine: {form: (cases,
    faulted)}}, "diverge": [(engine, form, what, case, detail)], "summary": {engine: {}},
    "cond": {form: (executed, skipped)} (arm)}."""
    res = {"notrun": {}, "forms": {}, "diverge": [], "summary": {}, "reference": None,
           "cond": {}}
    for line in out.splitlines():
        f = line.split("\t")
        if f[0] == "reference" and len(f) == 3:
            res["reference"] = (f[1], f[2])
        elif f[0] == "notrun" and len(f) == 3:
            res["notrun"][f[1]] = f[2]
        elif f[0] == "form" and len(f) == 5:
            kv = dict(x.split("=", 1) for x in f[3:])
            res["forms"].setdefault(f[2], {})[f[1]] = (int(kv["cases"]), int(kv["faulted"]))
        elif f[0] == "cond" and len(f) == 4:
            kv = dict(x.split("=", 1) for x in f[2:])
            res["cond"][f[1]] = (int(kv["executed"]), int(kv["skipped"]))
        elif f[0] == "diverge" and len(f) == 6:
            res["diverge"].append((f[1], f[2], f[3], int(f[4]), f[5]))
        elif f[0] == "summary":
            res["summary"][f[1]] = dict(x.split("=", 1) for x in f[2:])
        else:
            raise ValueError("unexpected line from imago state: %r" % line)
    return res


def rule_args(target):
    if target == A32:
        return ["--reference", reference(target), "--undefined", A32_UNDEFINED, "--notrun",
                A32_NOTRUN, "--implicit", A32_IMPLICIT]
    if target == A64:
        return ["--reference", reference(target), "--undefined", A64_UNDEFINED, "--notrun",
                A64_NOTRUN, "--implicit", A64_IMPLICIT]
    return ["--undefined", UNDEFINED, "--notrun", NOTRUN, "--implicit", IMPLICIT]


def run_state(target, engine, shard, shards=SHARDS, cases=CASES, seed=SEED):
    argv = ["state", "-a", target, "--engine", engine, "--cases", str(cases), "--seed", seed,
            "--shard", "%d/%d" % (shard, shards)] + rule_args(target)
    p = harness.imago(*argv, timeout=1200)
    cmd = harness.shjoin([harness.rel(harness.IMAGO)] + [harness.rel(a) for a in argv])
    return p, cmd


@pytest.mark.kind("state")
@pytest.mark.parametrize("target,engine,shard", _cells())
def test_state(target, engine, shard, stats, imago_bin):
    if engine == "qemu" and not harness.have("qemu-" + target):
        pytest.skip("qemu-%s not installed" % target)
    p, cmd = run_state(target, engine, shard)
    if p.returncode != 0:
        pytest.fail("`%s` exited %d\nstderr: %s" % (cmd, p.returncode, p.stderr.strip()),
                    pytrace=False)
    try:
        res = parse(p.stdout)
    except (ValueError, KeyError) as e:
        pytest.fail("`%s`: %s" % (cmd, e), pytrace=False)
    ref = reference(target)
    if engine not in res["summary"] or ref not in res["summary"]:
        pytest.fail("`%s` printed no summary for %s:\n%s" % (cmd, engine, p.stdout[-2000:]),
                    pytrace=False)
    if ref != "native" and (not res["reference"] or res["reference"][0] != ref):
        pytest.fail("`%s` did not say that %s is compared with %s, not native" % (
            cmd, target, ref), pytrace=False)
    forms = res["forms"].get(engine, {})
    run_forms = sorted(f for f, (c, _x) in forms.items() if c > 0)
    known_path = {A64: A64_KNOWN, A32: A32_KNOWN}.get(target, KNOWN)
    known = load_known(known_path)
    unexpected, seen = [], set()
    for d in res["diverge"]:
        key = (target, d[0], ref, d[1], d[2])
        if key in known:
            seen.add(key)
        else:
            unexpected.append(d)
    # A listed divergence of a form this shard ran must still show (with the default
    # number of cases or more: fewer cases may miss it).
    stale = sorted(k for k in known if k[0] == target and k[1] == engine and k[2] == ref
                   and k[3] in forms and k not in seen)
    summ = res["summary"][engine]
    extra = {}
    if target == A32:
        extra = {"state_%s_executed" % engine: int(summ.get("executed", 0)),
                 "state_%s_skipped_by_condition" % engine: int(summ.get("skipped", 0))}
    stats(target, **extra, **{
        "state_%s_forms" % engine: run_forms,
        "state_%s_cases" % engine: int(summ["cases"]),
        "state_%s_faulted" % engine: int(summ["faulted"]),
        "state_%s_divergences" % engine: len(unexpected),
        "state_%s_known" % engine: len({(d[1], d[2]) for d in res["diverge"]} - {
            (d[1], d[2]) for d in unexpected}),
        "state_not_run": ["%s: %s" % kv for kv in sorted(res["notrun"].items())],
        "state_reference": ref,
    })
    msgs = []
    if unexpected:
        byform = {}
        for d in unexpected:
            byform.setdefault((d[1], d[2]), []).append(d)
        msgs.append("%d divergences of %s from %s on %s in %d (form, what) pairs, not in "
                    "%s:" % (len(unexpected), engine, ref, target, len(byform),
                             harness.rel(known_path)))
        for (form, what), ds in sorted(byform.items())[:40]:
            msgs.append("  %s %s (%d cases), e.g. case %d: %s" % (form, what, len(ds), ds[0][3],
                                                                ds[0][4]))
        msgs.append("  reproduce: %s --form FORM" % cmd)
    if target in REFERENCED and engine == ref:
        # arm's and aarch64's operands are aimed from the table alone (memory bases at the
        # scratch block, branch registers at the marker): a case that faults on the
        # reference was aimed wrong, or its form belongs in a32-/a64-notrun.tsv
        bad = sorted("%s (%d of %d cases)" % (f, x, c + x) for f, (c, x) in forms.items() if x)
        if bad:
            msgs.append("forms with cases that fault on %s (`%s --form FORM`): %s" % (
                ref, cmd, ", ".join(bad)))
    if target == A32 and engine == ref and CASES >= 4:
        # every conditional form must have run cases both ways (even cases pass their
        # condition, odd cases draw one other than al and fail it)
        oneway = sorted("%s (executed %d, skipped %d)" % (f, x, y)
                        for f, (x, y) in res["cond"].items() if f in forms and (not x or not y))
        if oneway:
            msgs.append("conditional forms whose cases did not both pass and fail their "
                        "condition: " + ", ".join(oneway))
        if not res["cond"] and forms:
            msgs.append("`%s` printed no cond lines: no conditional form ran" % cmd)
    if stale and CASES >= DEFAULT_CASES:
        msgs.append("listed in %s but not reproduced (remove them, or say why they are "
                    "gone):" % harness.rel(known_path))
        msgs += ["  %s" % "\t".join(k) for k in stale]
    if msgs:
        pytest.fail("\n".join(msgs), pytrace=False)


def load_implicit(path=IMPLICIT):
    """The KEY globs of the implicit-operand file, in order."""
    keys = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                keys.append(line.split("\t")[0].strip())
    return keys


@pytest.mark.kind("state")
@pytest.mark.parametrize("target", STATE_TARGETS)
def test_state_implicit(target, imago_bin):
    """The forms whose implicit operands state/x86-implicit.tsv aims (string operations,
    jmp/call through r/m, ret) must run every case natively: none may fault (a fault
    means a pointer, a count or a target left the scratch block or the code). Every key
    must name a form of x86_64 (a line that matches nothing is stale)."""
    if "native" not in harness.engines_for(target):
        pytest.skip("no native engine for %s on this machine" % target)
    keys = load_implicit()
    argv = ["state", "-a", target, "--engine", "native", "--cases", str(CASES), "--seed", SEED,
            "--undefined", UNDEFINED, "--notrun", NOTRUN, "--implicit", IMPLICIT]
    p = harness.imago(*argv, timeout=600)
    cmd = harness.shjoin([harness.rel(harness.IMAGO)] + [harness.rel(a) for a in argv])
    assert p.returncode == 0, "`%s` exited %d: %s" % (cmd, p.returncode, p.stderr.strip())
    res = parse(p.stdout)
    forms = res["forms"].get("native", {})
    aimed = {f: v for f, v in forms.items() if any(fnmatch.fnmatchcase(f, k) for k in keys)}
    bad = sorted("%s: %d of %d cases fault natively" % (f, x, c + x)
                 for f, (c, x) in aimed.items() if x or not c)
    msgs = []
    if bad:
        msgs.append("forms with aimed implicit operands fault natively (`%s --form FORM`):"
                    % cmd)
        msgs += ["  " + b for b in bad]
    if target == "x86_64":
        stale = [k for k in keys if not any(fnmatch.fnmatchcase(f, k) for f in forms)]
        if stale:
            msgs.append("%s: keys that name no form: %s" % (harness.rel(IMPLICIT),
                                                           ", ".join(stale)))
    if not aimed:
        msgs.append("no form matched %s" % harness.rel(IMPLICIT))
    if msgs:
        pytest.fail("\n".join(msgs), pytrace=False)


def _assemble(target, text, tmpdir, name):
    """GNU as's bytes for text (statements separated by newlines), or (None, error)."""
    spec = harness.TOOLS[target]
    src, obj, binf = (os.path.join(tmpdir, name + ext) for ext in (".s", ".o", ".bin"))
    with open(src, "w") as f:
        f.write(spec["header"] + text + "\n")
    p = harness.run(spec["as"] + SCAFFOLD_AS.get(target, []) + ["-o", obj, src])
    if p.returncode != 0:
        return None, p.stderr.strip()
    p = harness.run([spec["objcopy"], "-O", "binary", "-j", ".text", obj, binf])
    if p.returncode != 0:
        return None, p.stderr.strip()
    with open(binf, "rb") as f:
        return f.read().hex(), None


@pytest.mark.kind("state")
@pytest.mark.parametrize("target", STATE_TARGETS + (A32, A64))
def test_state_scaffold(target, tmp_path, imago_bin):
    """Every piece of fixed code imago state puts around an instruction (x86: loads and
    stores of the GPRs, xmm registers and MXCSR, popf/pushf; aarch64: ldp/stp of the x and
    q registers, msr/mrs of nzcv, fpcr, fpsr and tpidr_el0, mov to and from sp, movz/movk
    of the record's address; the branch marker, prologue and epilogue; clrex, the
    load-exclusives of a64-implicit.tsv's monitor:FORM lines and the movz/movk that put
    their registers back; arm: ldm/stm of r0-r14, vldmia/vstmia of d0-d31, msr/mrs of APSR,
    vmsr/vmrs of FPSCR, mcr/mrc of TPIDRURW, movw/movt, the branches, clrex and the
    load-exclusives of a32-implicit.tsv) must be what GNU as makes of its assembler text."""
    missing = harness.missing_tools(target, which=("as", "objcopy"))
    if missing:
        pytest.skip("not installed: %s" % ", ".join(missing))
    # arm, aarch64: with the rules, the monitor code too (clrex, each load-exclusive named)
    impl = {A32: A32_IMPLICIT, A64: A64_IMPLICIT}.get(target)
    p = harness.imago("state", "-a", target, "--scaffold", *(["--implicit", impl] if impl else []))
    assert p.returncode == 0, p.stderr
    pieces = [line.split("\t") for line in p.stdout.splitlines()]
    assert pieces and all(len(x) == 3 and x[0] == "scaffold" for x in pieces), p.stdout[:2000]
    # One assembly of everything; piece by piece only to name a difference.
    whole, err = _assemble(target, "\n".join(x[2].replace(" ; ", "\n") for x in pieces),
                           str(tmp_path), "all")
    if whole == "".join(x[1] for x in pieces):
        return
    bad = []
    for i, (_s, ours, text) in enumerate(pieces):
        gnu, err = _assemble(target, text.replace(" ; ", "\n"), str(tmp_path), "p%d" % i)
        if gnu != ours:
            bad.append("  %s: imago %s, GNU as %s" % (text, ours, gnu or err))
    pytest.fail("imago state's scaffolding differs from GNU as on %s:\n%s" % (
        target, "\n".join(bad) or "  (only when assembled together: %s)" % err), pytrace=False)
