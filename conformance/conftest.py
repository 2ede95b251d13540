"""pytest plumbing for `make check-all-arch`: vectors, scheduling, shards, fixtures
and the report.

Vectors. Before any worker starts, the controller (or the only process, without
xdist) makes the vector files of all targets once, the four `imago vectors`
runs concurrently (vectorfiles.py), and hands the keys to the workers, which
read the files' headers at collection and a batch's vectors when it runs.

Scheduling. Under xdist the default distribution is loadgroup (unless --dist
or -d is given): the tests that build programs (program, gnu-image,
program-bytes, gnu-program, wx) are grouped by target and the cross-host tests
(cross-vectors, cross-image, cross-run) by target too, so one worker builds a
target's images once and reuses them; encoding batches, negatives and the rest
are ungrouped and spread over the workers.

Shards. `--shard I/N` (or IMAGO_SHARD) keeps the I-th of N shards (sharding.py)
and deselects the rest after -k/-m.

Report. Every test carries a `kind` marker; its host, target and engine come
from its parameters (the host defaults to harness.host(), the imago under
test). At collection each item gets an ("imago_cell", {...}) user property, and
tests add ("imago_stats", {...}) properties with counts. User properties travel
with the test reports from the xdist workers to the controller, which
aggregates them here, writes build/reports/check-all-arch.json (schema in
README.md; tools/report.py merges the shards' reports) and prints a host x
target x engine matrix before pytest's final summary line.
"""

import collections
import hashlib
import importlib.util
import os
import sys
import time

import pytest

import harness
import secondop
import sharding
import vectorfiles


def _tools_report():
    """tools/report.py: the cell order and count adding the merge uses too."""
    name = "imago_tools_report"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, os.path.join(harness.ROOT, "tools", "report.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


report_tools = _tools_report()

# Kinds whose tests share per-worker builds, grouped by target under loadgroup.
GROUP_BY_TARGET = ("program", "gnu-image", "program-bytes", "gnu-program", "wx")
GROUP_CROSS = ("cross-vectors", "cross-image", "cross-run")

_config_holder = {}  # pytest_runtest_logreport gets no config argument


def pytest_addoption(parser):
    group = parser.getgroup("imago")
    group.addoption("--shard", metavar="I/N", default=None,
                    help="run only the I-th of N shards of the suite (1-based; also "
                    "IMAGO_SHARD=I/N); the report goes to "
                    "build/reports/check-all-arch.shard-I-of-N.json")


def _is_worker(config):
    return hasattr(config, "workerinput")


def _shard(config):
    text = config.getoption("shard", None)
    if text is None:
        text = os.environ.get("IMAGO_SHARD", "")
    if not str(text).strip():
        return None
    try:
        return sharding.parse(text)
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None


def report_path(config):
    if os.environ.get("IMAGO_REPORT"):
        return os.environ["IMAGO_REPORT"]
    shard = config._imago_shard
    name = "check-all-arch%s.json" % ("" if shard is None else "." + sharding.name(*shard))
    return os.path.join(harness.REPORTS, name)


def _dist_given(config):
    """Did the command line (or PYTEST_ADDOPTS, or addopts) choose a distribution?"""
    args = list(config.invocation_params.args)
    args += os.environ.get("PYTEST_ADDOPTS", "").split()
    try:
        args += list(config.getini("addopts"))
    except (ValueError, KeyError):
        pass
    return any(a == "--dist" or a.startswith("--dist=") for a in args) or \
        getattr(config.option, "distload", False)


def pytest_configure(config):
    config.addinivalue_line("markers", "kind(name): the report kind of a test (encoding, "
                            "negative, disasm, llvm-mc, program, program-bytes, gnu-image, "
                            "gnu-program, link-program, wx, cross-vectors, cross-image, cross-run, unit)")
    config._imago_shard = _shard(config)
    config._imago_collection = None
    if _is_worker(config):
        vectorfiles.expect(config.workerinput.get("imago_vectors"))
    else:  # controller, or no xdist
        if getattr(config.option, "dist", "no") == "load" and not _dist_given(config):
            config.option.dist = "loadgroup"
        config._imago_agg = Aggregator()
        config._imago_report_file = report_path(config)
    config.pluginmanager.register(_ShardSelect(), "imago-shard-select")
    _config_holder["config"] = config


def _wants_vectors(config):
    """Does this run collect test_encodings.py or test_disasm.py (so the controller
    should make the vector files before the workers start)? Guessing wrong costs
    only time: a worker that finds no file makes it itself."""
    if getattr(config.option, "pyargs", False):
        return True
    base = str(config.invocation_params.dir)
    for name in ("test_encodings.py", "test_disasm.py"):
        mod = os.path.join(harness.CONFORMANCE, name)
        for arg in config.args or [base]:
            p = os.path.abspath(os.path.join(base, str(arg).split("::")[0]))
            if mod == p or mod.startswith(p.rstrip(os.sep) + os.sep):
                return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    config = session.config
    if _is_worker(config) or not _wants_vectors(config):
        return
    config._imago_vectors = vectorfiles.prepare(harness.TARGETS)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist controller: the workers read the vector files made with these keys."""
    node.workerinput["imago_vectors"] = getattr(node.config, "_imago_vectors", None) or {}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist controller: the collection summary of the workers (all alike)."""
    out = getattr(node, "workeroutput", None) or {}
    if out.get("imago_collection") and node.config._imago_collection is None:
        node.config._imago_collection = out["imago_collection"]


def _group(kind, cell):
    if kind in GROUP_BY_TARGET:
        return cell["target"]
    if kind in GROUP_CROSS:
        return "cross-" + cell["target"]
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    primary = harness.host()
    positions = None
    keep, drop = [], []
    for item in items:
        item._imago_key = sharding.item_key(item.path, item.nodeid, harness.ROOT)
        item._imago_batch = None
        m = item.get_closest_marker("kind")
        if m is None:
            keep.append(item)
            continue
        params = getattr(item, "callspec", None)
        params = params.params if params else {}
        if any(k in params and params[k] is None for k in ("target", "host")):
            drop.append(item)  # a placeholder for an empty parameter list
            continue
        kind = str(m.args[0])
        cell = {
            "host": str(params["host"]) if "host" in params else primary,
            "target": str(params.get("target", "none")),
            "engine": str(params.get("engine", "none")),
            "kind": kind,
        }
        item.user_properties.append(("imago_cell", cell))
        if kind == "encoding" and "batch" in params:
            if positions is None:
                positions = vectorfiles.batch_positions()
            item._imago_batch = positions[cell["target"]] + int(params["batch"])
        group = _group(kind, cell)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


class _ShardSelect:
    """Runs after every other selection (-k, -m): keeps the shard's tests."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        keys = [getattr(it, "_imago_key", None)
                or sharding.item_key(it.path, it.nodeid, harness.ROOT) for it in items]
        info = {
            "collected": len(items),
            "collection": hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16],
        }
        shard = config._imago_shard
        if shard is not None:
            index, count = shard
            keep, drop = [], []
            for it, key in zip(items, keys):
                if sharding.shard_of(key, count, getattr(it, "_imago_batch", None)) == index:
                    keep.append(it)
                else:
                    drop.append(it)
            if drop:
                config.hook.pytest_deselected(items=drop)
            items[:] = keep
        info["selected"] = len(items)
        config._imago_collection = info
        if _is_worker(config):
            config.workeroutput["imago_collection"] = info


class Aggregator:
    def __init__(self):
        self.outcome = {}  # nodeid -> "passed" | "failed" | "skipped"
        self.cell_of = {}  # nodeid -> (host, target, engine, kind)
        self.targets = collections.defaultdict(dict)  # target -> counts
        self.hosts = collections.defaultdict(lambda: collections.defaultdict(dict))
        self.start = time.time()

    _RANK = {"passed": 0, "skipped": 1, "failed": 2}

    def add(self, report):
        cell = None
        for name, value in report.user_properties:
            if name == "imago_cell":
                cell = (value["host"], value["target"], value["engine"], value["kind"])
            elif name == "imago_stats" and report.when == "call":
                counts = {k: v for k, v in value.items() if k not in ("target", "host") and (
                    isinstance(v, (list, tuple)) or (isinstance(v, int) and not isinstance(v, bool)))}
                if value.get("host") is None:
                    dst = self.targets[str(value["target"])]
                else:
                    dst = self.hosts[str(value["host"])][str(value["target"])]
                report_tools.add_counts(dst, counts)
        if cell is None:
            return
        self.cell_of[report.nodeid] = cell
        if report.when == "call":
            o = report.outcome
        elif report.failed:
            o = "failed"
        elif report.skipped:
            o = "skipped"
        else:
            o = "passed"
        old = self.outcome.get(report.nodeid)
        if old is None or self._RANK[o] > self._RANK[old]:
            self.outcome[report.nodeid] = o

    def cells(self):
        counts = {}
        for nodeid, o in self.outcome.items():
            c = counts.setdefault(self.cell_of[nodeid], {"passed": 0, "failed": 0, "skipped": 0})
            c[o] += 1
        return report_tools.cells_list(counts)

    def target_stats(self):
        out = {}
        for t in harness.TARGETS:
            s = self.targets.get(t, {})
            ids = sorted(s.get("forms", []))
            out[t] = {
                "forms": len(ids),
                "form_ids": ids,
                "vectors": s.get("vectors", 0),
                "negatives": s.get("negatives", 0),
                "mismatches": s.get("mismatches", 0),
                "encoding_batches": s.get("batches", 0),
                "second_opinions": second_opinions(t, s),
            }
            # The state checks (test_state.py): state_<engine>_forms (ids), _cases, _faulted,
            # _divergences, _known, and state_not_run ("form: reason").
            out[t].update((k, v) for k, v in sorted(s.items()) if k.startswith("state_"))
            # The linked programs (test_link_programs.py): link_programs, link_checks,
            # link_mismatches summed over the cells run, link_cells ("target/engine").
            out[t].update((k, v) for k, v in sorted(s.items()) if k.startswith("link_"))
        return out

    def host_stats(self):
        return {h: {t: dict(self.hosts[h][t]) for t in report_tools.target_order(self.hosts[h])}
                for h in report_tools.host_order(self.hosts)}


def second_opinions(target, s):
    """The report's targets[t].second_opinions from the so_* counts of test_disasm.py:
    per tool the vectors that agree, differ, and differ in a listed class."""
    def tool(name, vectors_key):
        known = {k.split(":", 1)[1]: v for k, v in s.items()
                 if k.startswith("so_%s_known:" % name)}
        return {"vectors": s.get(vectors_key, 0), "agree": s.get("so_%s_agree" % name, 0),
                "differ": s.get("so_%s_differ" % name, 0), "known": known}
    return {
        "covered": {"disasm": secondop.covered(target),
                    "llvm_mc": target in secondop.LLVM_TRIPLE},
        "objdump": tool("objdump", "so_disasm_vectors"),
        "capstone": tool("capstone", "so_disasm_vectors"),
        "llvm_mc": tool("llvm", "so_llvm_vectors"),
    }


def pytest_runtest_logreport(report):
    # Runs on the workers too (their config has no aggregator).
    agg = getattr(_config_holder.get("config"), "_imago_agg", None)
    if agg is not None:
        agg.add(report)


def _build_report(config):
    agg = config._imago_agg
    shard = None
    if config._imago_shard is not None:
        coll = config._imago_collection or {}
        shard = {"index": config._imago_shard[0], "count": config._imago_shard[1],
                 "selected": coll.get("selected"), "collected": coll.get("collected"),
                 "collection": coll.get("collection")}
    return {
        "schema": report_tools.SCHEMA,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "duration_s": round(time.time() - agg.start, 1),
        "shard": shard,
        "host": harness.host(),
        "imago": harness.rel(harness.IMAGO),
        "faults": harness.faults_active(),
        "versions": harness.versions(),
        "cells": agg.cells(),
        "targets": agg.target_stats(),
        "hosts": agg.host_stats(),
    }


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if _is_worker(config) or not hasattr(config, "_imago_agg"):
        return
    if config.option.collectonly:
        return
    if not config._imago_agg.outcome and config._imago_shard is None:
        return  # nothing of ours ran (e.g. -k matched nothing); a shard may be empty
    rep = _build_report(config)
    config._imago_report = rep
    path = config._imago_report_file
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        report_tools.write_atomic(path, rep)
        config._imago_report_path = path
    except OSError as e:
        config._imago_report_path = "not written (%s)" % e


def _cell_text(c):
    if c is None:
        return "-"
    run = c["passed"] + c["failed"]
    if run == 0:
        return "skip %d" % c["skipped"]
    txt = "%d/%d" % (c["passed"], run)
    if c["failed"]:
        txt += " FAIL"
    if c["skipped"]:
        txt += " +%ds" % c["skipped"]
    return txt


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rep = getattr(config, "_imago_report", None)
    if rep is None:
        return
    tr = terminalreporter
    primary = rep["host"]
    tr.section("imago conformance matrix (imago under test: host %s)" % primary, sep="=")
    zero = lambda: {"passed": 0, "failed": 0, "skipped": 0}  # noqa: E731
    by = collections.defaultdict(zero)  # (host, target, column)
    other = collections.defaultdict(zero)  # (host, kind): cells of no target (unit)
    for c in rep["cells"]:
        if c["target"] in harness.TARGETS:
            key = (c["host"], c["target"], "static" if c["engine"] == "none" else c["engine"])
            dst = by[key]
        else:
            dst = other[(c["host"], c["kind"])]
        for k in ("passed", "failed", "skipped"):
            dst[k] += c[k]
    hosts = report_tools.host_order({primary} | {c["host"] for c in rep["cells"]}
                                    | set(rep.get("hosts", {})))
    cols = ["static"] + harness.ENGINES
    tr.write_line(("%-8s %-8s %5s %8s %5s %5s  %s" % (
        "host", "target", "forms", "vectors", "neg", "mism",
        " ".join("%-13s" % c for c in cols))).rstrip())
    for h in hosts:
        for t in harness.TARGETS:
            cells = [by.get((h, t, col)) for col in cols]
            if h != primary and not any(cells) and t not in rep.get("hosts", {}).get(h, {}):
                continue
            if h == primary:
                s = rep["targets"][t]
                nums = "%5d %8d %5d %5d" % (s["forms"], s["vectors"], s["negatives"],
                                             s["mismatches"])
            else:
                # Another host: the vectors it printed identically to the reference
                # host's, and the vector lines and program outputs that differed.
                hs = rep.get("hosts", {}).get(h, {}).get(t, {})
                if "vectors_compared" in hs:
                    diff = hs.get("vectors_differing", 0) + hs.get("outputs_differing", 0)
                    nums = "%5s %8d %5s %5d" % ("-", hs["vectors_compared"], "-", diff)
                else:
                    nums = "%5s %8s %5s %5s" % ("-", "-", "-", "-")
            line = "%-8s %-8s %s  %s" % (h, t, nums, " ".join("%-13s" % _cell_text(c)
                                                               for c in cells))
            tr.write_line(line.rstrip(),
                red=any(c and c["failed"] for c in cells))
    tr.write_line("cells: passed/run tests (+Ns skipped); static: no code run (vs GNU "
                  "as/objdump, or host vs host)")
    tr.write_line("other hosts' rows: vectors = lines compared with the reference host's "
                  "(x86_64), mism = lines and program outputs that differ")
    hl = []
    for h in hosts:
        extra = ["%s %s" % (k, _cell_text(c)) for (hh, k), c in sorted(other.items()) if hh == h]
        hl.append(h + ("*" if h == primary else "") + (" (%s)" % ", ".join(extra) if extra else ""))
    tr.write_line("hosts: %s  (*: the imago under test)" % ", ".join(hl),
                  red=any(c["failed"] for c in other.values()))
    _second_opinion_lines(tr, rep)
    kinds = collections.Counter()
    for c in rep["cells"]:
        kinds[c["kind"]] += c["passed"] + c["failed"] + c["skipped"]
    tr.write_line("tests by kind: " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
    if rep.get("shard"):
        s = rep["shard"]
        tr.write_line("shard %d/%d: %s of %s tests (tools/report.py merge joins the shards' "
                      "reports)" % (s["index"], s["count"], s.get("selected", "?"),
                                    s.get("collected", "?")))
    if rep["faults"]:
        tr.write_line("FAULT INJECTION ACTIVE: " + ", ".join(rep["faults"]), red=True)
    tr.write_line("report: %s" % harness.rel(getattr(config, "_imago_report_path",
                                                     config._imago_report_file)))


def _second_opinion_lines(tr, rep):
    """Per target: vectors whose bytes objdump and capstone decode back to their text,
    and whose text llvm-mc assembles to the same bytes (known: in a listed class)."""
    rows = []
    for t in harness.TARGETS:
        so = rep["targets"].get(t, {}).get("second_opinions")
        if not so:
            continue
        parts = []
        for key, label, cov in (("objdump", "objdump", "disasm"),
                                ("capstone", "capstone", "disasm"),
                                ("llvm_mc", "llvm-mc", "llvm_mc")):
            d = so[key]
            if not so["covered"][cov]:
                parts.append("%s not covered" % label)
            elif d["vectors"] == 0:
                parts.append("%s -" % label)
            else:
                txt = "%s %d/%d" % (label, d["agree"], d["vectors"])
                if d["known"]:
                    txt += " (+%d known: %s)" % (sum(d["known"].values()), ", ".join(
                        "%s %d" % kv for kv in sorted(d["known"].items())))
                if d["differ"]:
                    txt += " %d DIFFER" % d["differ"]
                parts.append(txt)
        rows.append(("%-8s %s" % (t, "  ".join(parts)),
                     any(so[k]["differ"] for k in ("objdump", "capstone", "llvm_mc"))))
    if rows:
        tr.write_line("second opinions (decoded back to the text / assembled to the same "
                      "bytes, of vectors checked):")
        for line, red in rows:
            tr.write_line("  " + line, red=red)


# ---- fixtures ------------------------------------------------------------------


@pytest.fixture
def stats(request):
    """stats(target, **counts): add counts to the report's `targets` section, or with
    host=H to its `hosts` section (hosts[H][target]). Integers are summed, sets and
    lists united; other values are dropped."""

    def add(target, **counts):
        d = {"target": target}
        for k, v in counts.items():
            d[k] = sorted(v) if isinstance(v, (set, frozenset)) else v
        request.node.user_properties.append(("imago_stats", d))

    return add


@pytest.fixture(scope="session")
def builds(tmp_path_factory):
    """Images, raw bytes and GNU executables of the programs, built once per worker."""
    return harness.Builds(str(tmp_path_factory.mktemp("programs")))


@pytest.fixture(scope="session")
def imago_bin():
    if not os.path.exists(harness.IMAGO):
        pytest.fail("%s does not exist: run `make all` first (or set IMAGO_BIN)"
                    % harness.rel(harness.IMAGO), pytrace=False)
    return harness.IMAGO
