#!/usr/bin/env python3
"""Checks a trace of tests/trace_program.c against what that program does.

usage: check_trace.py TRACE WORKERS

fib(15) spawns one task per call with n >= 2, plus its root; the tree is a
root, 4 branches (named) and 12 leaves; the fork-join is a root and one child
("join child"). Every task completes once; every spawn flow joins a spawn of
task X to the start of a run slice of X; slices on one track never overlap;
per-worker busy time is at most the wall time; join instants sit inside a
slice of their task, after the joined task's last slice; the fork-join's
dependency is recorded (on one worker: as a join instant) and, when the
weft-trace tool is found (WEFT_TRACE_TOOL, else beside this build's tests),
its span is at least the known path child + after-join."""
import collections
import json
import os
import subprocess
import sys

JOIN_CHILD_MS = 20  # tests/trace_program.c
JOIN_AFTER_MS = 10


def fib_spawns(n, memo={}):
    if n < 2:
        return 0
    if n not in memo:
        memo[n] = 1 + fib_spawns(n - 1) + fib_spawns(n - 2)
    return memo[n]


def main():
    path, workers = sys.argv[1], int(sys.argv[2])
    with open(path) as f:
        first = f.readline()
    assert first.startswith('{"otherData":{"weft_trace":1,'), "no weft marker: %r" % first[:60]
    with open(path) as f:
        doc = json.load(f)  # the whole file is valid JSON
    other = doc["otherData"]
    assert other["workers"] == workers, other
    assert other["dropped"] == 0, other
    ev = doc["traceEvents"]

    names = {e["tid"]: e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    assert names.get(0) == "main", names
    for i in range(workers):
        assert names.get(i + 1) == "weft-w%d" % i, names

    expected_tasks = (1 + fib_spawns(15)) + (1 + 4 + 12) + (1 + 1)
    spawns = [e for e in ev if e["ph"] == "i" and e["cat"] == "spawn"]
    completes = [e for e in ev if e["ph"] == "i" and e["cat"] == "complete"]
    spawned = collections.Counter(e["args"]["task"] for e in spawns)
    completed = collections.Counter(e["args"]["task"] for e in completes)
    assert len(spawned) == expected_tasks == len(spawns), (len(spawned), len(spawns), expected_tasks)
    assert completed == spawned, "every spawned task completes exactly once"
    assert all(e["args"]["err"] == 0 for e in completes)
    roots = [e for e in spawns if e["args"]["parent"] == 0]
    assert len(roots) == 3 and all(e["tid"] == 0 for e in roots), roots
    assert max(e["args"]["depth"] for e in spawns) == 14, "fib(15)'s spawn chain is 14 deep"

    slices = [e for e in ev if e["ph"] == "X"]
    ran = set(e["args"]["task"] for e in slices)
    assert ran == set(spawned), "every task ran, and only spawned ones"
    ends = collections.Counter(e["args"]["end"] for e in slices)
    assert set(ends) <= {"done", "await", "yield", "inline"}, ends
    assert ends["done"] == expected_tasks, ends
    assert ends["yield"] >= 12, "each leaf yields once"

    by_track = collections.defaultdict(list)
    for e in slices:
        assert e["tid"] >= 1, "runs are on worker tracks"
        by_track[e["tid"]].append((e["ts"], e["ts"] + e["dur"]))
    for tid, spans in by_track.items():
        spans.sort()
        for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
            assert b0 >= a1 - 0.0015, "overlapping slices on track %d: %s %s" % (tid, (a0, a1), (b0, b1))

    starts = collections.defaultdict(set)
    for e in slices:
        starts[e["args"]["task"]].add((e["tid"], e["ts"]))
    spawn_at = {e["args"]["task"]: (e["tid"], e["ts"]) for e in spawns}
    flows = collections.defaultdict(dict)
    for e in ev:
        if e["ph"] in "sf":
            assert e["cat"] == "flow"
            flows[(e["name"], e["id"])][e["ph"]] = e
    n_spawn_flows = 0
    for (name, fid), pair in flows.items():
        assert set(pair) == {"s", "f"}, "unpaired flow %s %s" % (name, fid)
        s, f = pair["s"], pair["f"]
        assert f["ts"] >= s["ts"] - 0.0015, "flow goes back in time"
        if name == "spawn":
            n_spawn_flows += 1
            assert spawn_at[fid] == (s["tid"], s["ts"]), "spawn flow starts at the spawn of task %d" % fid
            assert (f["tid"], f["ts"]) in starts[fid], "spawn flow ends at a run of task %d" % fid
    assert n_spawn_flows == expected_tasks, (n_spawn_flows, expected_tasks)

    t_all = [e["ts"] for e in ev if "ts" in e]
    wall = max(t_all) - min(t_all)
    for tid, spans in by_track.items():
        busy = sum(b - a for a, b in spans)
        assert busy <= wall + 0.01, "worker %d busy %.3f us > wall %.3f us" % (tid, busy, wall)
    # Names: the tree's branches are "branch", the first spawned (lowest id
    # of its spawner) renamed "first branch"; each slice carries its task's.
    kids = collections.defaultdict(list)
    for e in spawns:
        kids[e["args"]["parent"]].append(e["args"]["task"])
    (tree_root,) = [r["args"]["task"] for r in roots if len(kids[r["args"]["task"]]) == 4]
    branches = sorted(kids[tree_root])
    for e in slices:
        if e["args"]["task"] in branches:
            want = "first branch" if e["args"]["task"] == branches[0] else "branch"
            assert e["name"] == want, (e, want)

    # Joins: inside a slice of their task on their track, after the joined
    # task's last slice.
    joins = [e for e in ev if e["ph"] == "i" and e["cat"] == "join"]
    last_end = collections.defaultdict(float)
    for e in slices:
        t = e["args"]["task"]
        last_end[t] = max(last_end[t], e["ts"] + e["dur"])
    for j in joins:
        t, x = j["args"]["task"], j["args"]["awaits"]
        assert t in spawned and x in spawned and t != x, j
        assert any(e["args"]["task"] == t and e["tid"] == j["tid"]
                   and e["ts"] - 0.0015 <= j["ts"] <= e["ts"] + e["dur"] + 0.0015 for e in slices), \
            "join outside a slice of its task: %s" % j
        assert j["ts"] >= last_end[x] - 0.0015, "join before the joined task ended: %s" % j

    # The fork-join with a known span.
    (child,) = {e["args"]["task"] for e in slices if e["name"] == "join child"}
    root = next(e["args"]["parent"] for e in spawns if e["args"]["task"] == child)
    assert root in {e["args"]["task"] for e in roots}, "the join child's parent is a root"
    by_join = [j for j in joins if j["args"]["task"] == root and j["args"]["awaits"] == child]
    by_await = [e for e in slices if e["args"]["task"] == root
                and e["args"].get("awaits") == child and e["args"]["end"] in ("await", "inline")]
    assert len(by_join) + len(by_await) == 1, "the root's await of its child is recorded once"
    if workers == 1:
        assert len(by_join) == 1, "on one worker the child has finished when the root awaits it"
    dep_at = by_join[0]["ts"] if by_join else min(e["ts"] + e["dur"] for e in by_await)
    child_us = sum(e["dur"] for e in slices if e["args"]["task"] == child)
    after_us = sum(min(e["dur"], e["ts"] + e["dur"] - dep_at) for e in slices
                   if e["args"]["task"] == root and e["ts"] + e["dur"] > dep_at)
    assert child_us >= JOIN_CHILD_MS * 1000 and after_us >= JOIN_AFTER_MS * 1000, (child_us, after_us)
    path_us = child_us + after_us

    tool = os.environ.get("WEFT_TRACE_TOOL") or os.path.join(
        os.path.dirname(os.path.abspath(path)), "..", "tools", "weft-trace", "weft-trace")
    if os.access(tool, os.X_OK):
        out = subprocess.run([tool, "summary", "--json", path], check=True, capture_output=True,
                             text=True).stdout
        summ = json.loads(out)
        span_us = summ["span_ns"] / 1000.0
        assert span_us >= path_us - 5, "span %.0f us < the known path %.0f us" % (span_us, path_us)
        assert span_us <= summ["work_ns"] / 1000.0 + 5, summ
        assert summ["unresolved_joins"] == 0, summ
        print("span %.1f ms (known path %.1f ms), work %.1f ms" %
              (span_us / 1000, path_us / 1000, summ["work_ns"] / 1e6))
    else:
        print("weft-trace not found at %s: span not checked" % tool)
    print("trace ok: %d tasks, %d slices, %d joins, %d events" %
          (expected_tasks, len(slices), len(joins), len(ev)))


if __name__ == "__main__":
    main()
