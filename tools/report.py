#!/usr/bin/python3
"""Merge and compare the JSON reports of `make check-all-arch` (stdlib only).

  tools/report.py merge -o OUT SHARD1.json SHARD2.json ...
      One report from the reports of shards 1..N of one run (`--shard I/N`):
      the cells (host, target, engine, kind) and the per-target and per-host
      counts summed, the form ids united. The inputs must be the N shards of one
      N, each exactly once, of the same collection (the shard section's digest),
      with the same schema, imago, versions, host and faults, and no cell twice
      in one report. OUT is written atomically. Exit 1 on inconsistent input.

  tools/report.py compare A.json B.json
      Exit 0 when the two reports are equal apart from the volatile fields
      (generated, duration_s, shard), else print the differences and exit 1.

conformance/conftest.py builds the report with the same helpers (cell order,
count adding), so a merged report equals the unsharded one.
"""

import argparse
import copy
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "conformance"))
import harness  # noqa: E402  (the target and engine lists)

SCHEMA = 2
VOLATILE = ("generated", "duration_s", "shard")
IDENTITY = ("schema", "imago", "versions", "host", "faults")
OUTCOMES = ("passed", "failed", "skipped")


class ReportError(Exception):
    pass


# ---- shared with conformance/conftest.py -------------------------------------------


def _index(name, names):
    return (names.index(name), "") if name in names else (len(names), str(name))


def cell_key(c):
    return (c["host"], c["target"], c["engine"], c["kind"])


def cell_order(key):
    """Sort key of a cell: host and target in harness.TARGETS order, the engine-less
    cells first, then harness.ENGINES order, then kind."""
    host, target, engine, kind = key
    return (_index(host, harness.TARGETS), _index(target, harness.TARGETS),
            (-1, "") if engine == "none" else _index(engine, harness.ENGINES), kind)


def cells_list(counts):
    """[{host, target, engine, kind, passed, failed, skipped}] in cell order from
    {(host, target, engine, kind): {passed, failed, skipped}}."""
    out = []
    for key in sorted(counts, key=cell_order):
        d = dict(zip(("host", "target", "engine", "kind"), key))
        d.update((o, counts[key].get(o, 0)) for o in OUTCOMES)
        out.append(d)
    return out


def add_counts(dst, src, where="counts"):
    """Add a stats dict into dst: integers summed, lists united (sorted), dicts added
    key by key; any other value must be equal on both sides."""
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k, {}), dict):
            add_counts(dst.setdefault(k, {}), v, "%s.%s" % (where, k))
        elif isinstance(v, bool) or not isinstance(v, (int, list, tuple, set, frozenset)):
            if k in dst and dst[k] != v:
                raise ReportError("%s: %s is %r in one report and %r in another"
                                  % (where, k, dst[k], v))
            dst[k] = v
        elif isinstance(v, int):
            old = dst.get(k, 0)
            if isinstance(old, bool) or not isinstance(old, int):
                raise ReportError("%s: %s is a number in one report, not in another" % (where, k))
            dst[k] = old + v
        else:
            old = dst.get(k, [])
            if not isinstance(old, list):
                raise ReportError("%s: %s is a list in one report, not in another" % (where, k))
            dst[k] = sorted(set(old) | set(v))
    return dst


def host_order(hosts):
    return sorted(hosts, key=lambda h: _index(h, harness.TARGETS))


def target_order(targets):
    return sorted(targets, key=lambda t: _index(t, harness.TARGETS))


# ---- merge -----------------------------------------------------------------------


def merge(reports):
    """reports: [(name, report dict)]. Returns the merged report; ReportError when
    the inputs are not the N shards of one run."""
    if not reports:
        raise ReportError("no reports to merge")
    problems = []
    shards = {}
    for name, r in reports:
        if not isinstance(r, dict):
            raise ReportError("%s: not a report (a JSON object)" % name)
        if r.get("schema") != SCHEMA:
            problems.append("%s: schema %r, this tool merges schema %d" % (
                name, r.get("schema"), SCHEMA))
        s = r.get("shard")
        if not isinstance(s, dict) or not isinstance(s.get("index"), int) \
                or not isinstance(s.get("count"), int):
            problems.append("%s: not the report of a shard (its `shard` is %r)" % (
                name, s))
            continue
        shards.setdefault(s["index"], []).append(name)
    if problems:
        raise ReportError("\n".join(problems))
    counts = {}
    for name, r in reports:
        counts.setdefault(r["shard"]["count"], []).append(name)
    if len(counts) > 1:
        raise ReportError("the reports are shards of different counts: %s" % "; ".join(
            "N=%d: %s" % (n, ", ".join(names)) for n, names in sorted(counts.items())))
    n = next(iter(counts))
    for i, names in sorted(shards.items()):
        if len(names) > 1:
            problems.append("shard %d/%d given %d times: %s" % (i, n, len(names),
                                                                ", ".join(names)))
        if not 1 <= i <= n:
            problems.append("%s: shard index %d is not in 1..%d" % (names[0], i, n))
    missing = [i for i in range(1, n + 1) if i not in shards]
    if missing:
        problems.append("shard%s %s of %d missing" % (
            "s" if len(missing) > 1 else "", ", ".join(str(i) for i in missing), n))
    first_name, first = reports[0]
    for name, r in reports[1:]:
        for field in IDENTITY:
            if r.get(field) != first.get(field):
                problems.append("%s and %s differ in `%s`: %s" % (
                    first_name, name, field, _diff_text(first.get(field), r.get(field))))
    # The same collection, each test in exactly one shard.
    colls = {(r["shard"].get("collected"), r["shard"].get("collection")) for _n, r in reports}
    if len(colls) > 1:
        problems.append("the shards come from different collections (tests collected, "
                        "digest): %s" % ", ".join("%s %s" % c for c in sorted(colls, key=str)))
    elif all("selected" in r["shard"] for _n, r in reports):
        collected = next(iter(colls))[0]
        selected = sum(r["shard"]["selected"] for _n, r in reports)
        if collected is not None and selected != collected:
            problems.append("the shards hold %d tests together, the collection %d" % (
                selected, collected))
    for name, r in reports:
        seen = set()
        for c in r.get("cells", []):
            k = cell_key(c)
            if k in seen:
                problems.append("%s: cell %s counted twice" % (name, "/".join(k)))
            seen.add(k)
    if problems:
        raise ReportError("\n".join(problems))

    ordered = sorted(reports, key=lambda nr: nr[1]["shard"]["index"])
    cells = {}
    targets = {}
    hosts = {}
    for name, r in ordered:
        for c in r.get("cells", []):
            acc = cells.setdefault(cell_key(c), dict.fromkeys(OUTCOMES, 0))
            for o in OUTCOMES:
                acc[o] += int(c.get(o, 0))
        for t, s in r.get("targets", {}).items():
            acc = targets.setdefault(t, {})
            add_counts(acc, {k: v for k, v in s.items()
                             if not (k == "forms" and "form_ids" in s)},
                       "%s: targets.%s" % (name, t))
            if "form_ids" in acc:
                acc["forms"] = len(acc["form_ids"])
        for h, per in r.get("hosts", {}).items():
            for t, s in per.items():
                add_counts(hosts.setdefault(h, {}).setdefault(t, {}), s,
                           "%s: hosts.%s.%s" % (name, h, t))
    out = {}
    for k, v in first.items():  # the first report's field order
        out[k] = copy.deepcopy(v)
    out["generated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out["duration_s"] = max(float(r.get("duration_s") or 0) for _n, r in reports)
    out["shard"] = {"merged": n, "count": n,
                    "collected": first["shard"].get("collected"),
                    "collection": first["shard"].get("collection")}
    out["cells"] = cells_list(cells)
    out["targets"] = {t: _target_fields(targets[t]) for t in target_order(targets)}
    out["hosts"] = {h: {t: hosts[h][t] for t in target_order(hosts[h])}
                    for h in host_order(hosts)}
    return out


def _target_fields(d):
    """forms first, then form_ids, then the rest as they came."""
    out = {}
    for k in ("forms", "form_ids"):
        if k in d:
            out[k] = d[k]
    out.update((k, v) for k, v in d.items() if k not in out)
    return out


# ---- compare -----------------------------------------------------------------------


def _normal(r):
    r = {k: v for k, v in r.items() if k not in VOLATILE}
    if isinstance(r.get("cells"), list):
        r["cells"] = {"/".join(cell_key(c)): {o: c.get(o, 0) for o in OUTCOMES}
                      for c in r["cells"]}
    return r


def _diff_text(a, b):
    ta, tb = json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True)
    if len(ta) + len(tb) > 300:
        ta, tb = ta[:140] + "...", tb[:140] + "..."
    return "%s vs %s" % (ta, tb)


def _diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            p = "%s.%s" % (path, k) if path else str(k)
            if k not in b:
                out.append("%s: only in the first (%s)" % (p, _diff_text(a[k], None)[:-8]))
            elif k not in a:
                out.append("%s: only in the second (%s)" % (p, json.dumps(b[k])[:140]))
            else:
                _diff(a[k], b[k], p, out)
    elif a != b:
        if isinstance(a, list) and isinstance(b, list) and all(
                not isinstance(x, (dict, list)) for x in a + b):
            sa, sb = set(map(json.dumps, a)), set(map(json.dumps, b))
            extra = ", ".join(sorted(sa - sb)[:10])
            lack = ", ".join(sorted(sb - sa)[:10])
            out.append("%s: %d vs %d items%s%s" % (
                path, len(a), len(b), "; only in the first: " + extra if extra else "",
                "; only in the second: " + lack if lack else ""))
        else:
            out.append("%s: %s" % (path, _diff_text(a, b)))


def compare(a, b):
    """The differences between two reports, ignoring the volatile fields (generated,
    duration_s, shard) and the order of the cells: [] when they are equal."""
    out = []
    _diff(_normal(a), _normal(b), "", out)
    return out


# ---- command line -------------------------------------------------------------------


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise ReportError("%s: %s" % (path, e.strerror or e))
    except ValueError as e:
        raise ReportError("%s: not JSON: %s" % (path, e))


def write_atomic(path, report):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, ".%s.tmp%d" % (os.path.basename(path), os.getpid()))
    try:
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="tools/report.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", metavar="{merge,compare}")
    sub.required = True
    m = sub.add_parser("merge", help="merge the reports of shards 1..N into one")
    m.add_argument("-o", "--output", required=True, metavar="OUT")
    m.add_argument("reports", nargs="+", metavar="SHARD.json")
    c = sub.add_parser("compare", help="exit 0 when two reports are equal but for "
                       "generated, duration_s and shard")
    c.add_argument("a", metavar="A.json")
    c.add_argument("b", metavar="B.json")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "merge":
            merged = merge([(p, load(p)) for p in args.reports])
            write_atomic(args.output, merged)
            tests = sum(c["passed"] + c["failed"] + c["skipped"] for c in merged["cells"])
            failed = sum(c["failed"] for c in merged["cells"])
            print("merged %d shards into %s: %d tests, %d failed, %d cells" % (
                len(args.reports), args.output, tests, failed, len(merged["cells"])))
            return 0
        diffs = compare(load(args.a), load(args.b))
        if not diffs:
            print("%s and %s are equal (but for %s)" % (args.a, args.b, ", ".join(VOLATILE)))
            return 0
        print("%s and %s differ in %d place%s:" % (args.a, args.b, len(diffs),
                                                   "" if len(diffs) == 1 else "s"))
        for d in diffs:
            print("  " + d)
        return 1
    except ReportError as e:
        print("tools/report.py %s: error: %s" % (args.cmd, str(e).replace("\n", "\n  ")),
              file=sys.stderr)
        return 1 if args.cmd == "merge" else 2


if __name__ == "__main__":
    sys.exit(main())
