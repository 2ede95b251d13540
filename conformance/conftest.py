"""pytest plumbing for `make check-all-arch`: fixtures and the report.

Every test carries a `kind` marker; its target and engine come from its
parameters. At collection each item gets an ("imago_cell", {...}) user property,
and tests add ("imago_stats", {...}) properties with counts (vectors, forms,
mismatches). User properties travel with the test reports from the xdist
workers to the controller, which aggregates them here and writes
build/reports/check-all-arch.json (schema in README.md) and prints a
target x engine matrix before pytest's final summary line.
"""

import collections
import json
import os
import time

import pytest

import harness

REPORT = os.environ.get("IMAGO_REPORT") or os.path.join(harness.REPORTS, "check-all-arch.json")

_config_holder = {}  # pytest_runtest_logreport gets no config argument


def pytest_configure(config):
    config.addinivalue_line("markers", "kind(name): the report kind of a test (encoding, "
                            "negative, program, program-bytes, gnu-image, gnu-program, wx)")
    if not hasattr(config, "workerinput"):  # controller, or no xdist
        config._imago_agg = Aggregator()
    _config_holder["config"] = config


def _is_worker(config):
    return hasattr(config, "workerinput")


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        m = item.get_closest_marker("kind")
        if m is None:
            keep.append(item)
            continue
        params = getattr(item, "callspec", None)
        params = params.params if params else {}
        if "target" in params and params["target"] is None:
            drop.append(item)  # a placeholder for an empty parameter list
            continue
        cell = {
            "target": str(params.get("target", "none")),
            "engine": str(params.get("engine", "none")),
            "kind": str(m.args[0]),
        }
        item.user_properties.append(("imago_cell", cell))
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class Aggregator:
    def __init__(self):
        self.outcome = {}  # nodeid -> "passed" | "failed" | "skipped"
        self.cell_of = {}  # nodeid -> (target, engine, kind)
        self.stats = collections.defaultdict(lambda: {
            "forms": set(), "vectors": 0, "negatives": 0, "mismatches": 0, "batches": 0})
        self.start = time.time()

    _RANK = {"passed": 0, "skipped": 1, "failed": 2}

    def add(self, report):
        cell = None
        for name, value in report.user_properties:
            if name == "imago_cell":
                cell = (value["target"], value["engine"], value["kind"])
            elif name == "imago_stats" and report.when == "call":
                s = self.stats[value["target"]]
                s["forms"].update(value.get("forms", ()))
                for k in ("vectors", "negatives", "mismatches", "batches"):
                    s[k] += int(value.get(k, 0))
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

    def cells(self, host):
        counts = collections.OrderedDict()
        def order(nodeid):
            t, e, k = self.cell_of[nodeid]
            ti = harness.TARGETS.index(t) if t in harness.TARGETS else 99
            ei = harness.ENGINES.index(e) if e in harness.ENGINES else -1
            return (ti, ei, k, nodeid)

        for nodeid in sorted(self.outcome, key=order):
            key = self.cell_of[nodeid]
            c = counts.setdefault(key, {"passed": 0, "failed": 0, "skipped": 0})
            c[self.outcome[nodeid]] += 1
        out = []
        for (t, e, k), c in counts.items():
            d = {"host": host, "target": t, "engine": e, "kind": k}
            d.update(c)
            out.append(d)
        return out

    def targets(self):
        out = {}
        for t in harness.TARGETS:
            s = self.stats.get(t)
            out[t] = {
                "forms": len(s["forms"]) if s else 0,
                "vectors": s["vectors"] if s else 0,
                "negatives": s["negatives"] if s else 0,
                "mismatches": s["mismatches"] if s else 0,
                "encoding_batches": s["batches"] if s else 0,
            }
        return out


def pytest_runtest_logreport(report):
    # Runs on the workers too (their config has no aggregator).
    agg = getattr(_config_holder.get("config"), "_imago_agg", None)
    if agg is not None:
        agg.add(report)


def _build_report(config):
    agg = config._imago_agg
    host = harness.host()
    return {
        "schema": 1,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "duration_s": round(time.time() - agg.start, 1),
        "host": host,
        "imago": harness.rel(harness.IMAGO),
        "faults": harness.faults_active(),
        "versions": harness.versions(),
        "cells": agg.cells(host),
        "targets": agg.targets(),
    }


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if _is_worker(config) or not hasattr(config, "_imago_agg"):
        return
    if not config._imago_agg.outcome:
        return  # nothing of ours ran (e.g. --collect-only)
    rep = _build_report(config)
    config._imago_report = rep
    try:
        os.makedirs(os.path.dirname(REPORT), exist_ok=True)
        tmp = REPORT + ".tmp%d" % os.getpid()
        with open(tmp, "w") as f:
            json.dump(rep, f, indent=2, sort_keys=False)
            f.write("\n")
        os.replace(tmp, REPORT)
        config._imago_report_path = REPORT
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
    tr.section("imago conformance matrix (host %s)" % rep["host"], sep="=")
    # static column: kinds without an engine, merged; then one column per engine.
    by = collections.defaultdict(lambda: {"passed": 0, "failed": 0, "skipped": 0})
    for c in rep["cells"]:
        col = "gnu" if c["engine"] == "none" else c["engine"]
        for k in ("passed", "failed", "skipped"):
            by[(c["target"], col)][k] += c[k]
    cols = ["gnu"] + harness.ENGINES
    head = "%-8s %7s %8s %5s %5s  " % ("target", "forms", "vectors", "neg", "mism")
    head += "".join("%-16s" % (("as/objdump" if c == "gnu" else c)) for c in cols)
    tr.write_line(head)
    for t in harness.TARGETS:
        s = rep["targets"][t]
        line = "%-8s %7d %8d %5d %5d  " % (t, s["forms"], s["vectors"], s["negatives"],
                                            s["mismatches"])
        line += "".join("%-16s" % _cell_text(by.get((t, col))) for col in cols)
        tr.write_line(line, red=any(by.get((t, col), {}).get("failed") for col in cols))
    tr.write_line("cells are passed/run tests per target x engine (as/objdump: encodings, "
                  "negatives and program bytes vs GNU)")
    kinds = collections.Counter()
    for c in rep["cells"]:
        kinds[c["kind"]] += c["passed"] + c["failed"] + c["skipped"]
    tr.write_line("tests by kind: " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
    if rep["faults"]:
        tr.write_line("FAULT INJECTION ACTIVE: " + ", ".join(rep["faults"]), red=True)
    tr.write_line("report: %s" % harness.rel(getattr(config, "_imago_report_path", REPORT)))


# ---- fixtures ------------------------------------------------------------------


@pytest.fixture
def stats(request):
    """stats(target, **counts): add counts to the report's `targets` section."""

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
