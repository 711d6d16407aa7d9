#!/usr/bin/env python3
"""The peer comparison: weft against Go, Tokio, oneTBB, OpenMP (libgomp and
libomp), Boost.Fiber and a serial C baseline, on the same workloads.

    tools/run bench --peers [--rounds N] [--limit S] ...
    python3 tools/peers.py  [--rounds N] [--limit S] ...   (the same)

Steps: install the peers' toolchains from Debian (only what is missing),
build every peer into build/peers/ (weft itself from this tree, Release, in
build/peers/weft-lib), run them, print a table of medians (each peer's time
as a multiple of weft's, and its peak resident memory), and write
build/peers.json, build/peers.md (the table) and build/peers.svg (a bar
chart). Python 3 standard library only.

Runs: every program is one subprocess per (workload, workers) cell, with a
time limit; weft and the peers take turns (A B C ... A B C ...) for
--rounds rounds, so that a slow spell of the machine hits them all alike. A
cell that goes past the limit is killed, shown as "> limit", and not run
again in later rounds. Peak RSS (and CPU time) come from /usr/bin/time.

The workloads and every peer's idioms are described in
benchmarks/peers/README.md.
"""

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "benchmarks", "peers")
OUT = os.path.join(ROOT, "build", "peers")
BIN = os.path.join(OUT, "bin")

# Debian packages the peers need, beyond what tools/run installs for weft.
PACKAGES = [
    "gcc", "g++", "clang", "cmake", "ninja-build", "pkg-config",
    "libboost-context1.81-dev", "libck-dev",       # weft's own build
    "golang-go",                                   # Go
    "cargo", "rustc", "librust-tokio-dev",         # Tokio, offline
    "libtbb-dev",                                  # oneTBB
    "libomp-dev",                                  # LLVM's OpenMP runtime
    "libboost-fiber1.81-dev",                      # Boost.Fiber
    "time",                                        # /usr/bin/time: peak RSS
]

WORKLOADS = ["fib", "skynet", "spawn", "nqueens", "yield", "chan"]
ONE_WORKER = {"yield", "chan"}  # ping-pong on one worker only
PEERS = ["weft", "serial", "go", "tokio", "tbb", "omp-gcc", "omp-clang", "boost-fiber"]
SERIAL_ONE_WORKER = True  # the serial baseline runs once per workload, at 1 worker

CFLAGS = ["-O3", "-DNDEBUG", "-Wall", "-Wextra"]


def log(msg):
    print(f"\n== {msg}", flush=True)


def run(cmd, **kw):
    """Runs a build step, echoing it; raises CalledProcessError on failure."""
    print("  $ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


# ---------------------------------------------------------------- install

def installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                       capture_output=True, text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


def ensure_packages():
    missing = [p for p in PACKAGES if not installed(p)]
    if not missing:
        return
    log("installing: " + " ".join(missing))
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and not shutil.which("sudo"):
        sys.exit("peers.py: need root or sudo to install: " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(sudo + ["apt-get", "update", "-qq"], env=env)
    run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing, env=env)


# ---------------------------------------------------------------- build

def build_weft_lib(jobs):
    lib = os.path.join(OUT, "weft-lib")
    run(["cmake", "-S", ROOT, "-B", lib, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
         "-DWEFT_BUILD_TESTS=OFF", "-DWEFT_BUILD_BENCHMARKS=OFF",
         "-DWEFT_BUILD_EXAMPLES=OFF", "-DWEFT_BUILD_TOOLS=OFF"], stdout=subprocess.DEVNULL)
    run(["cmake", "--build", lib, "-j", str(jobs), "--target", "weft"])
    return lib


def build_weft(jobs):
    lib = build_weft_lib(jobs)
    run(["gcc", "-std=c11"] + CFLAGS + ["-I", os.path.join(ROOT, "include"),
         "-o", os.path.join(BIN, "weft"), os.path.join(SRC, "weft", "weft_peer.c"),
         "-L", lib, "-lweft", "-Wl,-rpath," + lib])


def build_serial(jobs):
    run(["gcc", "-std=c11"] + CFLAGS + ["-o", os.path.join(BIN, "serial"),
         os.path.join(SRC, "serial", "serial.c")])


def build_omp_gcc(jobs):
    run(["gcc", "-std=c11"] + CFLAGS + ["-fopenmp", '-DPEER_NAME="omp-gcc"',
         "-o", os.path.join(BIN, "omp-gcc"), os.path.join(SRC, "omp", "omp_peer.c")])


def build_omp_clang(jobs):
    run(["clang", "-std=c11"] + CFLAGS + ["-fopenmp=libomp", '-DPEER_NAME="omp-clang"',
         "-o", os.path.join(BIN, "omp-clang"), os.path.join(SRC, "omp", "omp_peer.c")])


def build_tbb(jobs):
    run(["g++", "-std=c++17"] + CFLAGS + ["-o", os.path.join(BIN, "tbb"),
         os.path.join(SRC, "tbb", "tbb_peer.cc"), "-ltbb"])


def build_boost_fiber(jobs):
    run(["g++", "-std=c++17"] + CFLAGS + ["-pthread", "-o", os.path.join(BIN, "boost-fiber"),
         os.path.join(SRC, "fiber", "fiber_peer.cc"), "-lboost_fiber", "-lboost_context"])


def build_go(jobs):
    go = shutil.which("go") or "/usr/lib/go/bin/go"
    env = dict(os.environ, GOCACHE=os.path.join(OUT, "go-cache"),
               GOPATH=os.path.join(OUT, "go-path"), GOPROXY="off", GOFLAGS="-mod=mod",
               GO111MODULE="on", GOTOOLCHAIN="local")
    run([go, "build", "-o", os.path.join(BIN, "go"), "."], cwd=os.path.join(SRC, "go"), env=env)


def build_tokio(jobs):
    # Built in a copy of the sources, so that Cargo.lock stays out of the
    # tree; .cargo/config.toml there replaces crates.io with Debian's crates.
    src = os.path.join(OUT, "tokio-src")
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(os.path.join(SRC, "tokio"), src)
    # Debian's cargo and rustc, not a rustup toolchain that may be on PATH.
    cargo = "/usr/bin/cargo" if os.path.exists("/usr/bin/cargo") else "cargo"
    rustc = "/usr/bin/rustc" if os.path.exists("/usr/bin/rustc") else "rustc"
    env = dict(os.environ, CARGO_HOME=os.path.join(OUT, "cargo-home"), RUSTC=rustc,
               CARGO_TARGET_DIR=os.path.join(OUT, "tokio-target"))
    env["PATH"] = "/usr/bin:" + env.get("PATH", "")
    run([cargo, "build", "--release", "--offline", "-j", str(jobs)], cwd=src, env=env)
    shutil.copy2(os.path.join(OUT, "tokio-target", "release", "peers-tokio"),
                 os.path.join(BIN, "tokio"))


BUILDERS = {
    "weft": build_weft, "serial": build_serial, "go": build_go, "tokio": build_tokio,
    "tbb": build_tbb, "omp-gcc": build_omp_gcc, "omp-clang": build_omp_clang,
    "boost-fiber": build_boost_fiber,
}


def build_all(peers, jobs):
    """Builds each peer; returns {peer: error text} for those that failed."""
    os.makedirs(BIN, exist_ok=True)
    failed = {}
    for p in peers:
        log(f"build {p}")
        try:
            BUILDERS[p](jobs)
        except (subprocess.CalledProcessError, OSError) as e:
            failed[p] = str(e)
            print(f"  build of {p} FAILED: {e}", flush=True)
    return failed


# ---------------------------------------------------------------- run

def run_one(peer, workload, workers, limit):
    """One run as a subprocess; returns a record with seconds/ok/rss."""
    rec = {"peer": peer, "workload": workload, "workers": workers,
           "seconds": None, "ok": None, "rss_kb": None, "status": "ok"}
    # Peak RSS through /usr/bin/time, not our own wait4(): Linux carries a
    # process's pre-exec high-water mark into ru_maxrss, so a child forked
    # from this Python would report Python's RSS as its floor; time(1)'s
    # floor is about 1-2 MiB.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r") as usage_file:
        t0 = time.monotonic()
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%M %U %S", "-o", usage_file.name,
                                 os.path.join(BIN, peer), workload, str(workers)],
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        killed = threading.Event()

        def kill():
            # The program first, so that time(1) still reports its usage;
            # then, if anything is left, the whole session.
            killed.set()
            try:
                with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                    for child in f.read().split():
                        os.kill(int(child), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(limit, kill)
        timer.start()
        proc.wait()
        timer.join() if killed.is_set() else timer.cancel()
        rec["wall"] = round(time.monotonic() - t0, 6)
        usage = usage_file.read().split()
        if len(usage) >= 3:
            # time(1) prints "Command exited with non-zero status N" first
            # when the program fails: the figures are the last three fields.
            rss, user, sys_ = usage[-3:]
            rec["rss_kb"] = int(rss)  # KiB
            rec["cpu_s"] = round(float(user) + float(sys_), 3)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if killed.is_set():
        rec["status"] = "timeout"
        return rec
    line = next((l for l in reversed(stdout.splitlines()) if l.startswith("{")), None)
    try:
        data = json.loads(line) if line else None
    except json.JSONDecodeError:
        data = None
    if data is None or proc.returncode not in (0, 1):
        rec["status"] = "failed"
        rec["error"] = f"exit {proc.returncode}: " + (stderr.strip()[-300:] or stdout.strip()[-300:])
        return rec
    if data.get("na"):
        rec["status"] = "n/a"
        rec["na"] = data["na"]
        return rec
    rec["seconds"] = data["seconds"]
    rec["ok"] = bool(data["ok"]) and proc.returncode == 0
    if not rec["ok"]:
        rec["status"] = "wrong"
        rec["error"] = stderr.strip()[-300:]
    return rec


def cells_for(workloads, worker_counts):
    cells = []
    for w in workloads:
        for n in ([1] if w in ONE_WORKER else worker_counts):
            cells.append((w, n))
    return cells


def runs_in_cell(peer, workers):
    return not (peer == "serial" and SERIAL_ONE_WORKER and workers != 1)


def run_all(peers, cells, rounds, limit):
    records = []
    dead = set()  # (peer, workload, workers) past the limit, or failed: not rerun
    for r in range(rounds):
        log(f"round {r + 1}/{rounds}")
        for (w, n) in cells:
            line = []
            for p in peers:
                if not runs_in_cell(p, n):
                    continue
                if (p, w, n) in dead:
                    line.append(f"{p} (skipped)")
                    continue
                rec = run_one(p, w, n, limit)
                rec["round"] = r + 1
                records.append(rec)
                if rec["status"] in ("timeout", "failed", "n/a"):
                    dead.add((p, w, n))
                line.append(f"{p} {short(rec, limit)}")
            print(f"  {w:<8} x{n:<3} " + " | ".join(line), flush=True)
    return records


def short(rec, limit):
    s = rec["status"]
    if s == "ok":
        return f"{rec['seconds']:.3f}s"
    if s == "timeout":
        return f">{limit:g}s"
    return s


# ---------------------------------------------------------------- summary

def summarize(peers, cells, records, limit, build_failed):
    """One entry per (workload, workers, peer): median time, ratio, RSS."""
    by = {}
    for rec in records:
        by.setdefault((rec["peer"], rec["workload"], rec["workers"]), []).append(rec)
    summary = []
    for (w, n) in cells:
        for p in peers:
            if not runs_in_cell(p, n):
                continue
            recs = by.get((p, w, n), [])
            e = {"workload": w, "workers": n, "peer": p, "median_s": None,
                 "ratio_to_weft": None, "rss_kb": None, "runs": len(recs)}
            statuses = {r["status"] for r in recs}
            times = [r["seconds"] for r in recs if r["status"] == "ok"]
            rss = [r["rss_kb"] for r in recs if r["rss_kb"] and r["status"] in ("ok", "timeout")]
            cpu = [r["cpu_s"] for r in recs if r.get("cpu_s") is not None and r["status"] == "ok"]
            if p in build_failed:
                e["status"] = "build failed"
            elif "n/a" in statuses:
                e["status"] = "n/a"
                e["note"] = next(r["na"] for r in recs if r["status"] == "n/a")
            elif "failed" in statuses:
                e["status"] = "failed"
                e["note"] = next(r.get("error", "") for r in recs if r["status"] == "failed")
            elif "wrong" in statuses:
                e["status"] = "wrong"
            elif "timeout" in statuses:
                e["status"] = "timeout"
            elif times:
                e["status"] = "ok"
                e["median_s"] = statistics.median(times)
                e["min_s"] = min(times)
            else:
                e["status"] = "not run"
            if rss:
                e["rss_kb"] = int(statistics.median(rss))
            if cpu:
                e["cpu_s"] = statistics.median(cpu)
            summary.append(e)
    weft = {(e["workload"], e["workers"]): e["median_s"] for e in summary if e["peer"] == "weft"}
    serial = {e["workload"]: e["median_s"] for e in summary if e["peer"] == "serial"}
    for e in summary:
        ref = weft.get((e["workload"], e["workers"]))
        if ref and e["median_s"]:
            e["ratio_to_weft"] = e["median_s"] / ref
        elif ref and e["status"] == "timeout":
            e["ratio_to_weft_min"] = limit / ref  # at least this
    return summary, weft, serial


def fmt_time(e, limit):
    s = e["status"]
    if s == "ok":
        t = e["median_s"]
        return f"{t:.3f}" if t >= 0.1 else f"{t:.4f}"
    if s == "timeout":
        return f"> {limit:g} (limit)"
    return s


def fmt_ratio(e):
    if e["peer"] == "weft":
        return "1" if e["status"] == "ok" else "—"
    if e.get("ratio_to_weft"):
        r = e["ratio_to_weft"]
        return f"{r:.2f}" if r < 10 else f"{r:.1f}" if r < 100 else f"{r:.0f}"
    if e.get("ratio_to_weft_min"):
        return f"> {e['ratio_to_weft_min']:.1f}"
    return "—"


def fmt_rss(e):
    return f"{e['rss_kb'] / 1024:.1f}" if e["rss_kb"] else "—"


def table(peers, cells, summary, limit):
    """The results as Markdown: a long table, then a matrix of ratios."""
    lines = ["| workload | workers | peer | median time (s) | × weft | best (s) | CPU (s) | peak RSS (MiB) |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for e in summary:
        best = f"{e['min_s']:.4f}" if e.get("min_s") is not None else "—"
        cpu = f"{e['cpu_s']:.2f}" if e.get("cpu_s") is not None else "—"
        lines.append(f"| {e['workload']} | {e['workers']} | {e['peer']} | {fmt_time(e, limit)} "
                     f"| {fmt_ratio(e)} | {best} | {cpu} | {fmt_rss(e)} |")
    lines += ["", "Each peer's median time as a multiple of weft's at the same worker count "
              "(below 1: faster than weft; serial: its 1-thread time):", ""]
    others = [p for p in peers if p != "weft"]
    lines += ["| workload | workers | weft (s) | " + " | ".join(others) + " |",
              "| --- | ---: | ---: |" + " ---: |" * len(others)]
    idx = {(e["workload"], e["workers"], e["peer"]): e for e in summary}
    for (w, n) in cells:
        ref = idx.get((w, n, "weft"))
        row = [fmt_time(ref, limit) if ref else ""]
        for p in others:
            e = idx.get((w, n, p))
            if e is None and p == "serial" and (w, 1, p) in idx:
                s = idx[(w, 1, p)]
                if s["median_s"] and ref and ref["median_s"]:
                    row.append(f"{s['median_s'] / ref['median_s']:.2f}")
                else:
                    row.append(s["status"])
            elif e is None:
                row.append("")
            elif e.get("ratio_to_weft") or e.get("ratio_to_weft_min"):
                row.append(fmt_ratio(e))
            elif e["status"] == "ok":
                row.append(fmt_time(e, limit) + " s")
            elif e["status"] == "timeout":
                row.append(f"> {limit:g} s")
            else:
                row.append(e["status"])
        lines.append(f"| {w} | {n} | " + " | ".join(row) + " |")
    lines += ["", "CPU time (user + system, median) as a multiple of weft's — less "
              "disturbed than wall time when other processes share the machine:", ""]
    lines += ["| workload | workers | weft CPU (s) | " + " | ".join(others) + " |",
              "| --- | ---: | ---: |" + " ---: |" * len(others)]
    for (w, n) in cells:
        ref = idx.get((w, n, "weft"))
        rc = ref.get("cpu_s") if ref and ref["status"] == "ok" else None
        row = [f"{rc:.2f}" if rc is not None else (ref["status"] if ref else "")]
        for p in others:
            e = idx.get((w, n, p)) or (idx.get((w, 1, p)) if p == "serial" else None)
            c = e.get("cpu_s") if e and e["status"] == "ok" else None
            if c is not None and rc:
                r = c / rc
                row.append(f"{r:.2f}" if r < 10 else f"{r:.1f}" if r < 100 else f"{r:.0f}")
            elif e is None:
                row.append("")
            elif e["status"] == "timeout":
                row.append(f"> {limit:g} s wall")
            else:
                row.append(e["status"] if e["status"] != "ok" else f"{c:.2f} s")
        lines.append(f"| {w} | {n} | " + " | ".join(row) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------- chart

COLORS = {
    "weft": "#d62728", "serial": "#7f7f7f", "go": "#17becf", "tokio": "#8c564b",
    "tbb": "#1f77b4", "omp-gcc": "#2ca02c", "omp-clang": "#98df8a", "boost-fiber": "#9467bd",
}


def esc(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def value_label(x, y_top, text):
    """A bar's value, written upwards just above it."""
    ty = y_top - 3
    return (f'<text x="{x + 3:.1f}" y="{ty:.1f}" font-size="9" fill="#222" '
            f'transform="rotate(-90 {x + 3:.1f} {ty:.1f})">{esc(text)}</text>')


def chart(peers, summary, limit, worker_counts, title):
    """A bar chart (SVG): one group per workload at the highest worker count
    (yield and chan: 1 worker), one bar per peer, log-scale time axis."""
    top_n = max(worker_counts)
    idx = {(e["workload"], e["workers"], e["peer"]): e for e in summary}
    groups = []
    for w in WORKLOADS:
        n = 1 if w in ONE_WORKER else top_n
        entries = []
        for p in peers:
            e = idx.get((w, n, p)) or (idx.get((w, 1, p)) if p == "serial" else None)
            entries.append((p, e))
        if any(e for _, e in entries):
            groups.append((w, n, entries))
    values = [e["median_s"] for _, _, es in groups for _, e in es if e and e["median_s"]]
    if any(e and e["status"] == "timeout" for _, _, es in groups for _, e in es):
        values.append(limit)
    if not values:
        values = [1.0]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    if hi <= lo:
        hi = lo * 10
    if max(values) > hi / 3:  # room for the value labels above the tallest bars
        hi *= 10
    W, H = 1000, 520
    left, right, top, bottom = 70, 20, 70, 80
    pw, ph = W - left - right, H - top - bottom

    def y(v):
        return top + ph * (math.log10(hi) - math.log10(v)) / (math.log10(hi) - math.log10(lo))

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
         '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
         'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
         '<line x1="0" y1="0" x2="0" y2="6" stroke="#444" stroke-width="2"/></pattern></defs>',
         f'<rect width="{W}" height="{H}" fill="#fff"/>',
         f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
         f'{esc(title)}</text>',
         f'<text x="{W / 2}" y="40" text-anchor="middle" fill="#444">median wall time per run, '
         f'log scale (lower is better); {top_n} workers, yield and chan 1 worker, serial 1 thread; '
         f'hatched: past the {limit:g} s limit</text>']
    # axis and decade grid lines
    d = lo
    while d <= hi * 1.0001:
        yy = y(d)
        o.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{left + pw}" y2="{yy:.1f}" stroke="#ddd"/>')
        lab = f"{d:g} s" if d >= 1 else f"{d * 1000:g} ms" if d >= 1e-3 else f"{d * 1e6:g} µs"
        o.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{esc(lab)}</text>')
        d *= 10
    o.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="#000"/>')
    o.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#000"/>')
    gw = pw / max(1, len(groups))
    bw = (gw * 0.8) / len(peers)
    for gi, (w, n, entries) in enumerate(groups):
        gx = left + gi * gw + gw * 0.1
        for bi, (p, e) in enumerate(entries):
            x = gx + bi * bw
            color = COLORS.get(p, "#333")
            if e and e["status"] == "ok" and e["median_s"]:
                yy = y(e["median_s"])
                tip = f"{p} {w} x{e['workers']}: {e['median_s']:.4f} s"
                if e.get("ratio_to_weft"):
                    tip += f" ({e['ratio_to_weft']:.2f}× weft)"
                o.append(f'<rect x="{x:.1f}" y="{yy:.1f}" width="{bw * 0.9:.1f}" '
                         f'height="{top + ph - yy:.1f}" fill="{color}"><title>{esc(tip)}</title></rect>')
                o.append(value_label(x + bw * 0.45, yy, f"{e['median_s']:.3g}"))
            elif e and e["status"] == "timeout":
                yy = y(limit)
                o.append(f'<rect x="{x:.1f}" y="{yy:.1f}" width="{bw * 0.9:.1f}" '
                         f'height="{top + ph - yy:.1f}" fill="url(#hatch)" stroke="{color}" '
                         f'stroke-width="2"><title>{esc(f"{p} {w}: > {limit:g} s")}</title></rect>')
                o.append(value_label(x + bw * 0.45, yy, f"> {limit:g}"))
            elif e:
                lab = {"n/a": "n/a", "build failed": "no build"}.get(e["status"], e["status"])
                tx, ty = x + bw * 0.45, top + ph - 4
                o.append(f'<text x="{tx:.1f}" y="{ty:.1f}" font-size="9" fill="#888" '
                         f'transform="rotate(-90 {tx:.1f} {ty:.1f})">{esc(lab)}</text>')
        o.append(f'<text x="{gx + gw * 0.4:.1f}" y="{top + ph + 18}" text-anchor="middle" '
                 f'font-weight="bold">{esc(w)}</text>')
        o.append(f'<text x="{gx + gw * 0.4:.1f}" y="{top + ph + 33}" text-anchor="middle" '
                 f'fill="#444">{n} worker{"s" if n > 1 else ""}</text>')
    # legend
    lx = left
    for p in peers:
        o.append(f'<rect x="{lx}" y="{H - 24}" width="12" height="12" fill="{COLORS.get(p, "#333")}"/>')
        o.append(f'<text x="{lx + 16}" y="{H - 14}">{esc(p)}</text>')
        lx += 26 + 7.5 * len(p) + 14
    o.append("</svg>")
    return "\n".join(o) + "\n"


# ---------------------------------------------------------------- main

PROBE_RUNS = 7


def cpu_probe():
    """Each CPU's speed: the serial C fib(30) pinned to it, fastest of
    PROBE_RUNS runs, in ms; None without the serial program. A figure at 2
    workers is as slow as the slower CPU, and a VM on a shared host may
    run one vCPU at a fraction of its speed for minutes (this one has, at
    half speed): taken before and after the runs, the probe shows it."""
    exe = os.path.join(BIN, "serial")
    if not os.access(exe, os.X_OK):
        return None
    speeds = {}
    for cpu in sorted(os.sched_getaffinity(0)):
        best = None
        for _ in range(PROBE_RUNS):
            r = subprocess.run([exe, "fib", "1"], capture_output=True, text=True,
                               stdin=subprocess.DEVNULL,
                               preexec_fn=lambda c=cpu: os.sched_setaffinity(0, {c}))
            try:
                sec = json.loads(r.stdout.strip().splitlines()[-1])["seconds"]
            except (IndexError, KeyError, ValueError):
                continue
            best = sec if best is None else min(best, sec)
        speeds[str(cpu)] = None if best is None else round(best * 1e3, 3)
    return speeds


def probe_lines(meta):
    """The header's lines on the CPU probe, with a warning when the CPUs
    did not all run at one speed (slowest over fastest above 1.25)."""
    before, after = meta.get("cpu_probe_before"), meta.get("cpu_probe_after")
    if not before or not after:
        return ""
    cpus = sorted(set(before) | set(after), key=int)
    fmt = lambda x: "—" if x is None else f"{x:.2f}"
    line = ("CPU speed probe (serial fib(30) pinned to each CPU, fastest of "
            f"{PROBE_RUNS}, ms) before / after: " +
            ", ".join(f"cpu{c} {fmt(before.get(c))} / {fmt(after.get(c))}" for c in cpus) + "  \n")
    vals = [v for v in list(before.values()) + list(after.values()) if v]
    if vals and max(vals) / min(vals) > 1.25:
        line += (f"**The CPUs did not all run at one speed** (slowest probe "
                 f"{max(vals) / min(vals):.2f} × the fastest): runs on the slow one "
                 "were slowed as much.  \n")
    return line


def machine():
    model = platform.processor() or ""
    try:
        for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if l.startswith("Model name"):
                model = l.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"nproc": len(os.sched_getaffinity(0)), "model": model,
            "kernel": platform.release(), "python": platform.python_version()}


def versions():
    def first(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return None

    def deb(pkg):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
        return r.stdout.strip() or None

    return {"gcc": first(["gcc", "--version"]), "clang": first(["clang", "--version"]),
            "go": first([shutil.which("go") or "go", "version"]),
            "rustc": first(["/usr/bin/rustc", "--version"]),
            "tokio": deb("librust-tokio-dev"), "tbb": deb("libtbb-dev"),
            "libomp": deb("libomp-dev"), "boost-fiber": deb("libboost-fiber1.81-dev"),
            "weft": first(["git", "-C", ROOT, "describe", "--always", "--dirty"])}


def report(meta, peers, cells, records, build_failed, write_json):
    """Prints the tables and writes build/peers.md, build/peers.svg and (if
    write_json) build/peers.json; returns 1 if weft itself failed anywhere."""
    limit = meta["limit_s"]
    summary, _, _ = summarize(peers, cells, records, limit, build_failed)
    mach = meta["machine"]
    lb, la = meta.get("loadavg_before") or [math.nan], meta.get("loadavg_after") or [math.nan]
    started = datetime.datetime.fromisoformat(meta["date"])
    header = (f"Date: {started:%Y-%m-%d %H:%M %Z}  \n"
              f"Machine: {mach['nproc']} CPUs (nproc), {mach['model']}, Linux {mach['kernel']}  \n"
              f"Command: `{meta['command']}` ({meta['rounds']} rounds, limit {limit:g} s per run)  \n"
              f"Load average (1 min) before / after: {lb[0]:.2f} / {la[0]:.2f}  \n"
              + probe_lines(meta) +
              f"Versions: " + "; ".join(f"{k} {v}" for k, v in meta["versions"].items() if v))
    text = table(peers, cells, summary, limit)
    if build_failed:
        text += "\n\nNot built: " + "; ".join(f"{p}: {e}" for p, e in build_failed.items())
    log("results (medians)")
    print(header + "\n\n" + text, flush=True)

    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "peers.md"), "w") as f:
        f.write(header + "\n\n" + text + "\n")
    if write_json:
        with open(os.path.join(ROOT, "build", "peers.json"), "w") as f:
            json.dump(dict(meta, peers=peers, cells=cells, build_failed=build_failed,
                           summary=summary, runs=records), f, indent=1)
    svg = chart(peers, summary, limit, meta["worker_counts"],
                f"weft and its peers — {mach['nproc']} CPUs, {mach['model']}")
    ET.fromstring(svg)  # well-formed XML, or this raises
    with open(os.path.join(ROOT, "build", "peers.svg"), "w") as f:
        f.write(svg)
    print("\nwrote " + ("build/peers.json, " if write_json else "") +
          "build/peers.md, build/peers.svg", flush=True)
    bad = [e for e in summary if e["status"] in ("wrong", "failed") and e["peer"] == "weft"]
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="rounds of runs (default 5)")
    ap.add_argument("--limit", type=float, default=60, help="seconds per run before it is killed (default 60)")
    ap.add_argument("--only", default=",".join(PEERS), help="comma-separated peers to run (default: all; weft always runs)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated workloads (default: all)")
    ap.add_argument("--workers", default=None,
                    help="comma-separated worker counts (default: 1 and every count up to nproc)")
    ap.add_argument("--no-install", action="store_true", help="do not apt-get install anything")
    ap.add_argument("--no-build", action="store_true", help="use what is in build/peers/bin")
    ap.add_argument("--report", metavar="JSON",
                    help="run nothing: print the tables and redraw the chart from a saved build/peers.json")
    args = ap.parse_args()

    if args.report:
        with open(args.report) as f:
            saved = json.load(f)
        runs = saved["runs"]
        peers = saved.get("peers") or [p for p in PEERS if any(r["peer"] == p for r in runs)]
        cells = [tuple(c) for c in saved.get("cells") or sorted(
            {(r["workload"], r["workers"]) for r in runs},
            key=lambda c: (WORKLOADS.index(c[0]), c[1]))]
        return report(saved, peers, cells, runs, saved.get("build_failed", {}), False)

    peers = [p for p in args.only.split(",") if p]
    for p in peers:
        if p not in BUILDERS:
            ap.error(f"unknown peer {p}; known: {', '.join(PEERS)}")
    if "weft" not in peers:
        peers.insert(0, "weft")  # the reference every ratio is against
    workloads = [w for w in args.workloads.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w}; known: {', '.join(WORKLOADS)}")
    mach = machine()
    worker_counts = ([int(x) for x in args.workers.split(",")] if args.workers
                     else list(range(1, mach["nproc"] + 1)))
    jobs = int(os.environ.get("WEFT_JOBS", mach["nproc"]))
    command = "tools/run bench --peers" + ("" if len(sys.argv) == 1 else " " + " ".join(sys.argv[1:]))

    if not args.no_install:
        ensure_packages()
    build_failed = {} if args.no_build else build_all(peers, jobs)
    for p in peers:
        if p not in build_failed and not os.access(os.path.join(BIN, p), os.X_OK):
            build_failed[p] = "no binary in build/peers/bin"

    cells = cells_for(workloads, worker_counts)
    log(f"running {len(cells)} cells × {len(peers)} peers × {args.rounds} rounds, "
        f"limit {args.limit:g} s per run")
    started = datetime.datetime.now().astimezone()
    load_before = os.getloadavg()
    probe_before = cpu_probe()
    runnable = [p for p in peers if p not in build_failed]
    records = run_all(runnable, cells, args.rounds, args.limit)
    meta = {"date": started.isoformat(), "machine": mach, "command": command,
            "versions": versions(), "rounds": args.rounds, "limit_s": args.limit,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            "cpu_probe_before": probe_before, "cpu_probe_after": cpu_probe(),
            "worker_counts": worker_counts}
    return report(meta, peers, cells, records, build_failed, True)


if __name__ == "__main__":
    sys.exit(main())
