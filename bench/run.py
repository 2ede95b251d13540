#!/usr/bin/python3
"""`make bench`: encoding throughput of imago against asmjit, xbyak and Zydis (x86-64) and
against asmjit's a64 assembler (AArch64), the conformance harness against GNU as
alone (x86_64 and aarch64), and the loader (x86_64 hosts: load + relocate against mmap +
memcpy + mprotect, the arena path, hot reload, TOC calls). Writes build/reports/bench.json and prints the ratios.
Nothing here is a pass/fail on speed; the run fails only when the libraries do not do the
same work (the agreement checks) or a program fails.

See docs/bench.md.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")

# The peers: (name, header that must exist, the program's source, libraries, Debian package).
PEERS = [
    ("asmjit", "asmjit/x86.h", "asmjit_bench.cpp", ["-lasmjit", "-lpthread", "-lrt"],
     "libasmjit-dev"),
    ("xbyak", "xbyak/xbyak.h", "xbyak_bench.cpp", [], "libxbyak-dev"),
    ("zydis", "Zydis/Zydis.h", "zydis_bench.cpp", ["-lZydis"], "libzydis-dev"),
]
OBJDUMP = "x86_64-linux-gnu-objdump"
# The AArch64 peer: asmjit's a64::Assembler (the same Debian package).
HARNESS_TARGETS = ["x86_64", "aarch64"]
A64_PEER = ("asmjit", "asmjit/arm/a64assembler.h", "asmjit_a64_bench.cpp",
            ["-lasmjit", "-lpthread", "-lrt"], "libasmjit-dev")


def versus(mt, pr):
    """The peer's side of a ratio record: imago's median time mt against the peer's run."""
    pt = statistics.median(pr["times"])
    return dict(peer_s=pt, ratio=mt / pt, peer_ns_per_insn=pt / pr["insns"] * 1e9,
                peer_best_s=min(pr["times"]), peer_insns=pr["insns"], peer_bytes=pr["bytes"])


def log(msg):
    print(msg, flush=True)


# ---- building the peers' programs ---------------------------------------------------


def header_present(cxx, header):
    """True when `#include <header>` compiles with cxx."""
    p = subprocess.run([cxx, "-std=c++17", "-fsyntax-only", "-x", "c++", "-"],
                       input="#include <%s>\n" % header, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    return p.returncode == 0


def build_peer(outdir, cxx, name, header, source, libs, package):
    """(path of the program, None) or (None, why it is absent). A present peer whose
    program does not build is an error (RuntimeError)."""
    if not shutil.which(cxx):
        return None, "no C++ compiler (%s) to build it" % cxx
    if not header_present(cxx, header):
        return None, "<%s> not found (Debian package %s not installed)" % (header, package)
    src = os.path.join(BENCH, source)
    exe = os.path.join(outdir, os.path.splitext(source)[0])
    deps = [src] + [os.path.join(BENCH, h) for h in ("bench.h", "mix.def", "bench_a64.h",
                                                     "mix_a64.def")]
    if os.path.exists(exe) and all(os.path.getmtime(exe) >= os.path.getmtime(d) for d in deps):
        return exe, None
    argv = [cxx, "-std=c++17", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-o", exe, src] + libs
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if p.returncode != 0:
        raise RuntimeError("building the %s benchmark failed: %s\n%s" % (
            name, " ".join(argv), p.stdout[-3000:]))
    return exe, None


# ---- running them --------------------------------------------------------------------


def run_program(exe, reps, copies, dump, extra=()):
    argv = [exe, "--reps", str(reps), "--copies", str(copies), "--dump", dump] + list(extra)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("`%s` exited %d: %s" % (" ".join(argv), p.returncode, p.stderr.strip()))
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def read_dump(path):
    """[(offset, bytes)] of one copy of the mix, one item per instruction."""
    out = []
    with open(path) as f:
        for line in f:
            _i, off, hexstr = line.rstrip("\n").split("\t")
            out.append((int(off), bytes.fromhex(hexstr)))
    return out


def disassemble(insns, tmpdir, tag):
    """objdump's Intel-syntax text of each instruction, branch targets written as the
    index of the instruction they reach (so encodings of other lengths compare equal);
    None where objdump's instruction boundaries are not the program's."""
    blob = b"".join(b for _o, b in insns)
    path = os.path.join(tmpdir, tag + ".bin")
    with open(path, "wb") as f:
        f.write(blob)
    p = subprocess.run([OBJDUMP, "-D", "-b", "binary", "-m", "i386:x86-64", "-M", "intel", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode != 0:
        raise RuntimeError("objdump failed on %s: %s" % (path, p.stderr.strip()))
    text = {}
    for line in p.stdout.splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\t[0-9a-f ]+\t(.*)$", line)
        if m:
            text[int(m.group(1), 16)] = re.sub(r"\s+", " ", m.group(2).strip())
    index = {off: i for i, (off, _b) in enumerate(insns)}

    def target(m):
        v = int(m.group(1), 16)
        return "<insn %d>" % index[v] if v in index else m.group(0)

    out = []
    for off, _b in insns:
        t = text.get(off)
        if t is not None and re.match(r"^(jmp|j[a-z]+|call) ", t):
            t = re.sub(r"0x([0-9a-f]+)", target, t)
        out.append(t)
    return out


def agreement(ref, peer, tmpdir, name):
    """Compare a peer's copy of the mix with imago's: same bytes, the same instruction in
    another encoding (objdump prints the same text), or a disagreement."""
    res = {"instructions": len(peer), "bytes": sum(len(b) for _o, b in peer),
           "same_bytes": 0, "other_encoding": [], "disagree": []}
    if len(peer) != len(ref):
        res["disagree"].append("%d instructions, imago has %d" % (len(peer), len(ref)))
        return res
    rt, pt = disassemble(ref, tmpdir, "imago"), disassemble(peer, tmpdir, name)
    for i, ((_ro, rb), (_po, pb)) in enumerate(zip(ref, peer)):
        if rb == pb:
            res["same_bytes"] += 1
        elif rt[i] is not None and rt[i] == pt[i]:
            res["other_encoding"].append("#%d %s: imago %s, %s %s" % (i, rt[i], rb.hex(), name,
                                                                       pb.hex()))
        else:
            res["disagree"].append("#%d: imago %s (%s), %s %s (%s)" % (
                i, rb.hex(), rt[i], name, pb.hex(), pt[i]))
    return res


def plant(insns, fault, name):
    """IMAGO_BENCH_FAULT=flip:PEER:N flips bit 3 of the last byte of instruction N of the
    peer's copy (the agreement check must then report it)."""
    if not fault:
        return insns
    kind, peer, n = fault.split(":")
    if kind != "flip" or peer != name:
        return insns
    n = int(n)
    off, b = insns[n]
    insns = list(insns)
    insns[n] = (off, b[:-1] + bytes([b[-1] ^ 0x08]))
    return insns


# ---- AArch64: imago against asmjit's a64 assembler -----------------------------------


def mix_a64_lines():
    """[(form id, GNU text) or ("L", k)] of bench/mix_a64.def, in order."""
    with open(os.path.join(BENCH, "mix_a64.def")) as f:
        body = f.read().split("#define BENCH_A64_MIX(I, L)", 1)[1]
    out = []
    for m in re.finditer(r'\bI\((\w+), "([^"]*)"|\bL\((\d+)\)', body):
        out.append(("L", int(m.group(3))) if m.group(3) else (m.group(1), m.group(2)))
    return out


def a64_oracle(lines, skip, tmpdir):
    """{mix line: bytes} from GNU as for the mix's texts (the lines not in skip, labels
    .Lk), or (None, why) when the GNU tools are absent. A line whose bytes GNU as left to
    a relocation is an error."""
    sys.path.insert(0, os.path.join(ROOT, "conformance"))
    import harness  # noqa: E402
    import test_encodings  # noqa: E402

    missing = harness.missing_tools("aarch64")
    if missing:
        return None, "GNU tools for aarch64 not installed: %s" % ", ".join(missing)
    src = os.path.join(tmpdir, "mix_a64.s")
    obj = src[:-2] + ".o"
    with open(src, "w") as f:
        f.write(harness.TOOLS["aarch64"]["header"])
        i = 0
        for a, b in lines:
            if a == "L":
                f.write(".L%d:\n" % b)
                continue
            if i not in skip:
                f.write("__iv_%d: %s\n" % (i, b))
            i += 1
    p = test_encodings.assemble("aarch64", src, obj)
    if p.returncode != 0:
        raise RuntimeError("GNU as refused the AArch64 mix: %s" % p.stderr.strip())
    data, marks, relocs = test_encodings.read_object("aarch64", obj)
    if relocs:
        raise RuntimeError("GNU as left relocations in the AArch64 mix at %s" % relocs)
    return {i: data[off:off + 4] for i, off in marks.items()}, None


def a64_agreement(ref, peer, oracle, name):
    """Compare imago's and the peer's copies (by mix line) with each other and with GNU as:
    every line both encode must be the same 4 bytes, and GNU as's."""
    res = {"instructions": len(peer), "bytes": sum(len(b) for _l, b in peer),
           "same_bytes": 0, "gnu_as_checked": 0, "disagree": []}
    mine = dict(ref)
    theirs = dict(peer)
    if sorted(mine) != sorted(theirs):
        res["disagree"].append("%s emitted mix lines %s, imago %s" % (
            name, sorted(theirs), sorted(mine)))
        return res
    for line in sorted(mine):
        rb, pb = mine[line], theirs[line]
        gb = oracle.get(line) if oracle is not None else None
        if gb is not None:
            res["gnu_as_checked"] += 1
        if rb == pb and (gb is None or gb == rb):
            res["same_bytes"] += 1
        else:
            res["disagree"].append("mix line %d: imago %s, %s %s%s" % (
                line, rb.hex(), name, pb.hex(), "" if gb is None else ", GNU as " + gb.hex()))
    return res


def a64_bench(build, outdir, cxx, reps, copies, fault, tmpdir):
    """The AArch64 encoding records, the agreement, the lines imago cannot encode yet, and
    the peer's absence (or None)."""
    exe = os.path.join(build, "bench", "imago_a64_bench")
    if not os.path.exists(exe):
        raise RuntimeError("%s does not exist: run `make bench`" % exe)
    lines = mix_a64_lines()
    texts = [b for a, b in lines if a != "L"]
    runs = {}
    dump = os.path.join(tmpdir, "imago-a64.dump")
    for r in run_program(exe, reps, copies, dump):
        runs[r["name"]] = r
    missing = runs.pop("imago-a64-missing")["lines"]
    skip = sorted(m["line"] for m in missing)
    for m in missing:
        if texts[m["line"]] != m["text"]:
            raise RuntimeError("bench/run.py misread mix_a64.def at line %d" % m["line"])
    ref = [(line, b) for line, (_o, b) in zip(*read_a64_dump(dump))]
    oracle, oracle_absent = a64_oracle(lines, set(skip), tmpdir)

    name, header, source, libs, package = A64_PEER
    exe, absent = build_peer(outdir, cxx, name, header, source, libs, package)
    agree = None
    if exe is None:
        log("bench: %s (a64) absent: %s; carrying on without it" % (name, absent))
    else:
        dump = os.path.join(tmpdir, "asmjit-a64.dump")
        extra = ["--skip", ",".join(map(str, skip)) or "-"]
        for r in run_program(exe, reps, copies, dump, extra):
            runs[r["name"]] = r
        pl, pi = read_a64_dump(dump)
        peer = [(line, b) for line, (_o, b) in zip(pl, plant(pi, fault, "asmjit-a64"))]
        agree = a64_agreement(ref, peer, oracle, "asmjit-a64")
    if oracle is not None:
        # imago's bytes against GNU as on their own (also when asmjit is absent).
        bad = [line for line, b in ref if oracle.get(line) != b]
        if agree is None:
            agree = {"disagree": ["mix line %d: imago %s, GNU as %s" % (
                line, dict(ref)[line].hex(), oracle[line].hex()) for line in bad]}

    mine = runs["imago-a64-l1"]
    work = ("AArch64 JIT mix (bench/mix_a64.def) x %d copies: %d of its %d instructions "
            "(%d not encodable by imago yet), %d bytes" % (
                copies, mine["insns"] // copies, len(texts), len(missing), mine["bytes"]))
    results = []
    for layer in ("imago-a64-l1", "imago-a64-l2"):
        mr = runs[layer]
        mt = statistics.median(mr["times"])
        for peer in ("asmjit", "memcpy"):
            rec = {"name": "encode-a64-" + layer[-2:], "arch": "aarch64", "work": work,
                   "imago": layer, "imago_s": mt, "imago_ns_per_insn": mt / mr["insns"] * 1e9,
                   "imago_best_s": min(mr["times"]), "reps": len(mr["times"]), "peer": peer,
                   "mix_lines": len(texts), "missing": missing}
            pname = peer + "-a64"
            if pname not in runs:
                rec.update(peer_s=None, ratio=None, absent=absent)
            else:
                rec.update(versus(mt, runs[pname]))
                if peer == "memcpy":
                    rec["floor"] = True
                else:
                    rec["agreement"] = {k: (len(v) if k == "disagree" else v)
                                        for k, v in agree.items()}
            if oracle_absent:
                rec["gnu_as_absent"] = oracle_absent
            results.append(rec)
    return results, agree, missing, absent, oracle_absent


def read_a64_dump(path):
    """([mix line], [(offset, bytes)]) of one copy of the AArch64 mix."""
    lines, insns = [], []
    with open(path) as f:
        for text in f:
            line, off, hexstr = text.rstrip("\n").split("\t")
            lines.append(int(line))
            insns.append((int(off), bytes.fromhex(hexstr)))
    return lines, insns


# ---- the loader (x86_64 hosts) --------------------------------------------------------

LOADER_GOAL_RATIO = 1.5   # load + relocate + make executable, against mmap + memcpy + mprotect
LOADER_GOAL_ARENA_NS = 1000.0  # a small module into an existing link space and out again


def host_is_x86_64():
    import platform
    return platform.machine().lower() in ("x86_64", "amd64")


def loader_bench(build, reps, quick):
    """The loader's records (bench/loader_bench.c): load + relocate + make executable against
    the floor, the arena path per small module, hot reload, TOC call vs direct call. On a
    host other than x86_64 one record naming the loader bench absent."""
    exe = os.path.join(build, "bench", "loader_bench")
    blank = dict(imago_s=None, peer_s=None, ratio=None)
    if not host_is_x86_64():
        why = "the loader bench runs x86-64 code: x86_64 hosts only (this is %s)" % (
            os.uname().machine)
        return [dict(name="loader", peer=None, work=None, absent=why, **blank)]
    if not os.path.exists(exe):
        raise RuntimeError("%s does not exist: run `make bench`" % exe)
    argv = [exe, "--reps", str(reps)] + (["--quick"] if quick else [])
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("`%s` exited %d: %s" % (" ".join(argv), p.returncode, p.stderr.strip()))
    runs = {}
    for line in p.stdout.splitlines():
        if line.strip():
            r = json.loads(line)
            runs[r["name"]] = r
    med = {k: statistics.median(r["times"]) for k, r in runs.items()}
    out = []
    for size in ("4k", "1m"):
        fl = runs["load-%s-floor" % size]
        for path, what in (("im_load", "im_load + im_unload (own mapping)"),
                           ("link", "im_link_load into the arena + im_lmod_unload + "
                                    "im_link_collect")):
            k = "load-%s-%s" % (size, path)
            out.append(dict(
                name="loader-load-%s-%s" % (size, path), peer="floor",
                work="%s of a %d-byte x86-64 module with %d relocations (ABS64, PC32 local%s), "
                     "vs mmap + memcpy + mprotect(read+exec) + munmap of the same bytes" % (
                         what, fl["code_bytes"], fl["relocs"],
                         ", PC32 TOC" if path == "link" else ""),
                imago_s=med[k], peer_s=med[fl["name"]], ratio=med[k] / med[fl["name"]],
                imago_best_s=min(runs[k]["times"]), peer_best_s=min(fl["times"]),
                goal=LOADER_GOAL_RATIO, code_bytes=fl["code_bytes"], relocs=fl["relocs"],
                reps=len(runs[k]["times"])))
    t = runs["arena-tiny"]
    out.append(dict(name="loader-arena-tiny", peer=None,
                    work="im_link_load + im_lmod_unload + im_link_collect of a %d-byte module "
                         "(%d relocations, 1 import) in a space holding 4 others" % (
                             t["code_bytes"], t["relocs"]),
                    ns=med["arena-tiny"] * 1e9, best_ns=min(t["times"]) * 1e9,
                    goal_ns=LOADER_GOAL_ARENA_NS, reps=len(t["times"]),
                    **dict(blank, imago_s=med["arena-tiny"])))
    for mode, what in (("fresh", "at a fresh address (a registered thread may be in the old "
                                 "code)"), ("inplace", "in place (no registered thread)")):
        k = "reload-" + mode
        out.append(dict(name="loader-" + k, peer=None,
                        work="im_lmod_reload of a provider module a user calls through its "
                             "TOC, " + what,
                        us=med[k] * 1e6, best_us=min(runs[k]["times"]) * 1e6,
                        reps=len(runs[k]["times"]), **dict(blank, imago_s=med[k])))
    calls = runs["call-toc"]["calls"]
    toc, direct = med["call-toc"] / calls, med["call-direct"] / calls
    out.append(dict(name="loader-call-toc", peer="call-direct",
                    work="a loop of %d calls to a trivial callee in another module: call "
                         "[rip + slot] (TOC) vs call rel32 (direct)" % calls,
                    imago_s=toc, peer_s=direct, ratio=toc / direct, ns_per_call=toc * 1e9,
                    peer_ns_per_call=direct * 1e9,
                    overhead_ns=(toc - direct) * 1e9, reps=len(runs["call-toc"]["times"])))
    return out


def report_loader(results):
    recs = [r for r in results if r["name"].startswith("loader")]
    if not recs:
        return
    log("")
    if recs[0].get("absent"):
        log("loader: absent (%s)" % recs[0]["absent"])
        return
    log("loader (median of %d repetitions)" % recs[0]["reps"])
    for r in recs:
        n = r["name"][len("loader-"):]
        if n.startswith("load-"):
            log("  %-18s %10.1f us  floor %10.1f us  ratio %5.2f (goal <= %.1f)  %d bytes, "
                "%d relocations" % (n, r["imago_s"] * 1e6, r["peer_s"] * 1e6, r["ratio"],
                                    r["goal"], r["code_bytes"], r["relocs"]))
        elif n == "arena-tiny":
            log("  %-18s %10.0f ns per module (goal < %.0f ns)" % (n, r["ns"], r["goal_ns"]))
        elif n.startswith("reload-"):
            log("  %-18s %10.2f us per reload" % (n, r["us"]))
        elif n == "call-toc":
            log("  %-18s %10.2f ns per call through the TOC, %.2f ns direct: ratio %.2f "
                "(+%.2f ns)" % (n, r["ns_per_call"], r["peer_ns_per_call"], r["ratio"],
                                r["overhead_ns"]))


# ---- the conformance harness ---------------------------------------------------------


def harness_bench(build, imago, target, reps, limit, tmpdir):
    """End to end (imago vectors to a file, then every batch through check_batch: write
    the source, GNU as, read the object, compare) against GNU as alone on the same batch
    sources (the only tool check_batch runs; `objdump -s -t -r` on the objects, which
    the harness ran before it read the objects itself, is timed too). Returns a dict of
    medians and counts."""
    os.environ["IMAGO_BIN"] = imago
    os.environ["IMAGO_BUILD"] = build
    sys.path.insert(0, os.path.join(ROOT, "conformance"))
    import harness  # noqa: E402
    import test_encodings  # noqa: E402
    import vectorfiles  # noqa: E402

    missing = harness.missing_tools(target)
    if missing:
        return {"absent": "GNU tools for %s not installed: %s" % (target, ", ".join(missing))}
    if limit:
        os.environ["IMAGO_BATCH"] = str(min(limit, vectorfiles.batch_size()))
    key = vectorfiles.key_for(target, vectorfiles.binary_digest())

    def end_to_end(rep):
        os.environ["IMAGO_VECTORS_DIR"] = os.path.join(tmpdir, "vectors-%d" % rep)
        vectorfiles._loaded.pop(target, None)
        t0 = time.perf_counter()
        v = vectorfiles.ensure(target, key)
        if v.problem:
            raise RuntimeError(v.problem)
        n = failures = 0
        batches = []
        for b in range(v.nbatches()):
            chunk = v.batch(b)
            if limit:
                chunk = chunk[:max(0, limit - n)]
            if not chunk:
                break
            src = os.path.join(tmpdir, "e2e-%d.s" % b)
            failures += len(test_encodings.check_batch(target, chunk, src, src[:-2] + ".o"))
            n += len(chunk)
            batches.append(chunk)
        t = time.perf_counter() - t0
        v._f.close()
        return t, n, failures, batches

    e2e, n, failures, batches = [], 0, 0, None
    for rep in range(reps):
        t, n, failures, batches = end_to_end(rep)
        e2e.append(t)
    # The tools alone, on the same sources (written before the clock starts).
    srcs = []
    for b, chunk in enumerate(batches):
        src = os.path.join(tmpdir, "tools-%d.s" % b)
        test_encodings.write_source(src, target, [v[2] for v in chunk])
        srcs.append(src)
    spec = harness.TOOLS[target]
    tools, objdumps = [], []
    for _rep in range(reps):
        t_as = t_od = 0.0
        for src in srcs:
            obj = src[:-2] + ".o"
            t0 = time.perf_counter()
            subprocess.run(spec["as"] + ["-o", obj, src], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
            t1 = time.perf_counter()
            subprocess.run([spec["objdump"], "-s", "-t", "-r", "-j", ".text", obj],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            t_as += t1 - t0
            t_od += time.perf_counter() - t1
        tools.append(t_as)
        objdumps.append(t_od)
    # Where the end-to-end time goes, once, outside the timed runs.
    parts = profile_parts(harness, vectorfiles, test_encodings, target, key, tmpdir, limit)
    return {"vectors": n, "batches": len(batches), "failures": failures,
            "e2e_s": statistics.median(e2e), "tools_s": statistics.median(tools),
            "objdump_s": statistics.median(objdumps),
            "e2e_all": e2e, "tools_all": tools, "parts": parts}


def profile_parts(harness, vectorfiles, test_encodings, target, key, tmpdir, limit):
    """Seconds spent in each step of one end-to-end run."""
    os.environ["IMAGO_VECTORS_DIR"] = os.path.join(tmpdir, "vectors-parts")
    parts = dict.fromkeys(["imago vectors", "read batches", "write source", "GNU as",
                           "read object", "compare"], 0.0)
    t0 = time.perf_counter()
    v = vectorfiles.ensure(target, key)
    parts["imago vectors"] = time.perf_counter() - t0
    n = 0
    for b in range(v.nbatches()):
        t0 = time.perf_counter()
        chunk = v.batch(b)
        if limit:
            chunk = chunk[:max(0, limit - n)]
        if not chunk:
            break
        n += len(chunk)
        t1 = time.perf_counter()
        src = os.path.join(tmpdir, "parts.s")
        obj = src[:-2] + ".o"
        test_encodings.write_source(src, target, [x[2] for x in chunk])
        t2 = time.perf_counter()
        test_encodings.assemble(target, src, obj)
        t3 = time.perf_counter()
        data, marks, _relocs = test_encodings.read_object(target, obj)
        t4 = time.perf_counter()
        offs = [marks[i] for i in range(len(chunk))] + [len(data)]
        sum(data[offs[i]:offs[i + 1]].hex() != chunk[i][3] for i in range(len(chunk)))
        t5 = time.perf_counter()
        parts["read batches"] += t1 - t0
        parts["write source"] += t2 - t1
        parts["GNU as"] += t3 - t2
        parts["read object"] += t4 - t3
        parts["compare"] += t5 - t4
    v._f.close()
    return {k: round(x, 4) for k, x in parts.items()}


# ---- main ----------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--reps", type=int, default=21, help="timed repetitions (median taken)")
    ap.add_argument("--copies", type=int, default=200, help="copies of the mix per repetition")
    ap.add_argument("--harness-reps", type=int, default=5)
    ap.add_argument("--harness-vectors", type=int, default=0,
                    help="time the harness on the first N vectors of each target only (0: all)")
    ap.add_argument("--no-harness", action="store_true")
    ap.add_argument("--no-a64", action="store_true", help="leave out the AArch64 mix")
    ap.add_argument("--no-loader", action="store_true", help="leave out the loader bench")
    ap.add_argument("--loader-quick", action="store_true",
                    help="the loader bench with tiny modules and counts (checks it runs)")
    ap.add_argument("--harness-targets", default=",".join(HARNESS_TARGETS),
                    help="the targets whose harness is timed (default %(default)s)")
    ap.add_argument("-o", "--output", default=None)
    ap.add_argument("--work", default=None,
                    help="where the peers' programs are built (default BUILD/bench)")
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    args = ap.parse_args()
    if args.reps < 5 or args.harness_reps < 5:
        ap.error("--reps and --harness-reps must be at least 5 (the ratios are medians of 5 or more)")
    build = os.path.abspath(args.build)
    outdir = os.path.abspath(args.work or os.path.join(build, "bench"))
    os.makedirs(outdir, exist_ok=True)
    output = args.output or os.path.join(build, "reports", "bench.json")
    fault = os.environ.get("IMAGO_BENCH_FAULT", "")
    if fault:
        log("FAULT INJECTION ACTIVE: IMAGO_BENCH_FAULT=%s" % fault)

    imago_exe = os.path.join(build, "bench", "imago_bench")
    if not os.path.exists(imago_exe):
        sys.exit("bench: %s does not exist: run `make bench`" % imago_exe)
    results, problems = [], []
    tmpdir = tempfile.mkdtemp(prefix="imago-bench-")
    try:
        runs = {}
        dumps = {}
        dump = os.path.join(tmpdir, "imago.dump")
        for r in run_program(imago_exe, args.reps, args.copies, dump):
            runs[r["name"]] = r
        dumps["imago"] = read_dump(dump)
        absent = {}
        for name, header, source, libs, package in PEERS:
            exe, why = build_peer(outdir, args.cxx, name, header, source, libs, package)
            if exe is None:
                absent[name] = why
                log("bench: %s absent: %s; carrying on without it" % (name, why))
                continue
            dump = os.path.join(tmpdir, name + ".dump")
            for r in run_program(exe, args.reps, args.copies, dump):
                runs[r["name"]] = r
            dumps[name] = plant(read_dump(dump), fault, name)

        agree = {}
        for name in dumps:
            if name == "imago":
                continue
            a = agreement(dumps["imago"], dumps[name], tmpdir, name)
            agree[name] = a
            for d in a["disagree"]:
                problems.append("%s disagrees with imago: %s" % (name, d))

        ref = runs["imago-l1"]
        work = "x86-64 JIT mix (bench/mix.def) x %d copies: %d instructions, %d bytes" % (
            args.copies, ref["insns"], ref["bytes"])
        for layer in ("imago-l1", "imago-l2"):
            mine = runs[layer]
            mt = statistics.median(mine["times"])
            for peer in [p[0] for p in PEERS] + ["memcpy"]:
                rec = {"name": "encode-" + layer[-2:], "work": work, "imago": layer,
                       "imago_s": mt, "imago_ns_per_insn": mt / mine["insns"] * 1e9,
                       "imago_best_s": min(mine["times"]), "reps": len(mine["times"]),
                       "peer": peer}
                if peer in absent:
                    rec.update(peer_s=None, ratio=None, absent=absent[peer])
                else:
                    rec.update(versus(mt, runs[peer]))
                    if peer == "memcpy":
                        rec["floor"] = True
                    else:
                        a = agree[peer]
                        rec["agreement"] = {"instructions": a["instructions"],
                                            "bytes": a["bytes"], "same_bytes": a["same_bytes"],
                                            "other_encoding": len(a["other_encoding"]),
                                            "disagree": len(a["disagree"])}
                results.append(rec)

        a64 = None
        if not args.no_a64:
            recs, a64_agree, missing, a64_absent, oracle_absent = a64_bench(
                build, outdir, args.cxx, args.reps, args.copies, fault, tmpdir)
            results.extend(recs)
            a64 = {"agree": a64_agree, "missing": missing, "absent": a64_absent,
                   "oracle_absent": oracle_absent}
            for d in (a64_agree or {}).get("disagree", []):
                problems.append("aarch64: asmjit-a64, imago and GNU as disagree: %s" % d)

        if not args.no_loader:
            try:
                results.extend(loader_bench(build, args.reps, args.loader_quick))
            except RuntimeError as e:  # a check of the loader bench failed: no numbers
                problems.append("loader bench: %s" % e)

        if not args.no_harness:
            for target in [t for t in args.harness_targets.split(",") if t]:
                log("bench: timing the conformance harness on %s (%d runs each)..."
                    % (target, args.harness_reps))
                h = harness_bench(build, os.path.join(build, "bin", "imago"), target,
                                  args.harness_reps, args.harness_vectors, tmpdir)
                rec = {"name": "harness-" + target, "peer": "as"}
                if "absent" in h:
                    rec.update(work=None, imago_s=None, peer_s=None, ratio=None,
                               absent=h["absent"])
                    log("bench: harness not timed: %s" % h["absent"])
                else:
                    rec.update(work="%s vectors: %d in %d batches, end to end vs GNU as "
                                    "alone" % (target, h["vectors"], h["batches"]),
                               imago_s=h["e2e_s"], peer_s=h["tools_s"],
                               ratio=h["e2e_s"] / h["tools_s"],
                               overhead=(h["e2e_s"] - h["tools_s"]) / h["tools_s"],
                               vectors=h["vectors"], vectors_per_s=h["vectors"] / h["e2e_s"],
                               tools_vectors_per_s=h["vectors"] / h["tools_s"],
                               reps=args.harness_reps, parts=h["parts"],
                               objdump_s=h["objdump_s"],
                               overhead_vs_as_objdump=(h["e2e_s"] - h["tools_s"] - h["objdump_s"])
                               / (h["tools_s"] + h["objdump_s"]),
                               mismatches=h["failures"])
                    if h["failures"]:
                        problems.append("the %s harness found %d mismatches" % (
                            target, h["failures"]))
                results.append(rec)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tmp = output + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, output)
    report(results, agree, absent, a64, problems, output)
    return 1 if problems else 0


def report(results, agree, absent, a64, problems, output):
    log("")
    log("encoding throughput (median of %d repetitions; ratio = imago time / peer time, "
        "below 1: imago faster)" % results[0]["reps"])
    log("%-13s %-8s %12s %12s %8s" % ("imago", "peer", "imago ns/ins", "peer ns/ins", "ratio"))
    for r in results:
        if not r["name"].startswith("encode-"):
            continue
        if r["ratio"] is None:
            log("%-13s %-8s %12.2f %12s %8s  (absent: %s)" % (
                r["imago"], r["peer"], r["imago_ns_per_insn"], "-", "-", r["absent"]))
        else:
            log("%-13s %-8s %12.2f %12.2f %8.2f%s" % (
                r["imago"], r["peer"], r["imago_ns_per_insn"], r["peer_ns_per_insn"], r["ratio"],
                "  (floor)" if r.get("floor") else ""))
    log("")
    for name, a in agree.items():
        log("same work: %s %d instructions / %d bytes: %d identical, %d other encoding, "
            "%d disagree" % (name, a["instructions"], a["bytes"], a["same_bytes"],
                             len(a["other_encoding"]), len(a["disagree"])))
        for x in a["other_encoding"]:
            log("  other encoding %s" % x)
    for name, why in absent.items():
        log("absent: %s (%s)" % (name, why))
    if a64 is not None:
        a = a64["agree"]
        if a and "instructions" in a:
            log("same work (aarch64): asmjit-a64 %d instructions / %d bytes: %d identical to "
                "imago's%s, %d disagree" % (
                    a["instructions"], a["bytes"], a["same_bytes"],
                    " and GNU as's (%d checked)" % a["gnu_as_checked"]
                    if a["gnu_as_checked"] else "", len(a["disagree"])))
        if a64["absent"]:
            log("absent: asmjit-a64 (%s)" % a64["absent"])
        if a64["oracle_absent"]:
            log("aarch64 mix not checked against GNU as: %s" % a64["oracle_absent"])
        if a64["missing"]:
            log("aarch64 mix lines imago cannot encode yet (left out of both sides' runs): %d"
                % len(a64["missing"]))
            for m in a64["missing"]:
                log("  line %d %-28s %s" % (m["line"], m["text"], m["why"]))
    for r in results:
        if r["name"].startswith("harness") and r["ratio"] is not None:
            log("")
            log("harness %s: %d vectors end to end %.2f s (%.0f vectors/s); GNU as "
                "alone %.2f s (%.0f vectors/s); glue overhead %.2f (goal <= 0.5); against GNU "
                "as + objdump -s -t -r (%.2f s more) %.2f" % (
                    r["name"][len("harness-"):], r["vectors"], r["imago_s"], r["vectors_per_s"],
                    r["peer_s"], r["tools_vectors_per_s"], r["overhead"], r["objdump_s"],
                    r["overhead_vs_as_objdump"]))
            log("  one run by step: " + ", ".join("%s %.2f s" % kv for kv in r["parts"].items()))
    report_loader(results)
    for p in problems:
        log("PROBLEM: " + p)
    log("report: %s" % os.path.relpath(output, ROOT))


if __name__ == "__main__":
    sys.exit(main())
