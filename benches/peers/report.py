#!/usr/bin/env python3
"""Turns the results JSON of `lsm-peers` into docs/benchmarks/throughput.png and
docs/BENCHMARKS.md.

Usage: python3 report.py [--docs DIR] [FILE.json ...]

DIR defaults to the repository's docs/. The report holds the interleaved 1M-key run
(DIR/benchmarks/results.json, or a given file without "mode": "scale") and every scale
run (`--scale`: DIR/benchmarks/results_*.json plus the given scale files; a given file
replaces a stored one of the same key count). The chart needs matplotlib; without it
the existing chart is kept."""

import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
ENGINES = ["lsm", "rocksdb", "fjall"]
COLORS = {"lsm": "#1f77b4", "rocksdb": "#d62728", "fjall": "#2ca02c"}
# The workloads the comparison is about, and extras it also runs.
HEADLINE = ["fillseq", "fillrandom", "overwrite", "fillbatch100", "fillbatch1000", "readrandom",
            "readseq", "seekrandom", "mixed"]
TARGET_12 = {"fillrandom", "readrandom"}


def fmt_ops(x):
    return f"{x:,.0f}" if x is not None else "-"


def fmt_ratio(x):
    return f"{x:.2f}x" if x is not None else "-"


def chart(res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = res["workloads"]
    engines = [e for e in ENGINES if e in res["settings"]["engines"]]
    med = res["medians_ops_per_sec"]
    fig, ax = plt.subplots(figsize=(12, 5.5), dpi=110)
    width = 0.8 / len(engines)
    for i, e in enumerate(engines):
        xs = [j + (i - (len(engines) - 1) / 2) * width for j in range(len(workloads))]
        ys = [med[w].get(e, 0) for w in workloads]
        bars = ax.bar(xs, ys, width, label=e, color=COLORS[e])
        for b, y in zip(bars, ys):
            if y:
                label = f"{y / 1e6:.2f}M" if y >= 1e6 else f"{y / 1e3:.0f}k"
                ax.text(b.get_x() + b.get_width() / 2, y * 1.05, label, ha="center",
                        va="bottom", fontsize=6.5, rotation=90)
    ax.set_yscale("log")
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels(workloads, rotation=20)
    ax.set_ylabel("ops/s (median, log scale)")
    s = res["settings"]
    ax.set_title(
        f"lsm vs RocksDB vs fjall: {s['num']:,} keys, {s['key_size']} B keys, "
        f"{s['value_size']} B values, median of {s['reps']} interleaved reps "
        f"(mixed: {s['threads']} threads, {s['read_percent']}% reads)",
        fontsize=10,
    )
    ax.legend()
    ax.grid(axis="y", which="both", alpha=0.3)
    top = max(v for w in workloads for v in med[w].values())
    ax.set_ylim(top=top * 4)
    fig.tight_layout()
    fig.savefig(path)


def table(res, workloads):
    med, rat = res["medians_ops_per_sec"], res["ratios"]
    rows = ["| workload | lsm ops/s | RocksDB ops/s | fjall ops/s | lsm / RocksDB | lsm / fjall |",
            "|---|---:|---:|---:|---:|---:|"]
    for w in workloads:
        m, r = med[w], rat[w]
        rows.append(f"| {w} | {fmt_ops(m.get('lsm'))} | {fmt_ops(m.get('rocksdb'))} | "
                    f"{fmt_ops(m.get('fjall'))} | {fmt_ratio(r.get('lsm/rocksdb'))} | "
                    f"{fmt_ratio(r.get('lsm/fjall'))} |")
    return "\n".join(rows)


def spread(res, workloads):
    """min-max of the repetitions, per engine and workload."""
    by = {}
    for r in res["runs"]:
        by.setdefault((r["engine"], r["workload"]), []).append(r["ops_per_sec"])
    rows = ["| workload | lsm (min-max) | RocksDB (min-max) | fjall (min-max) |",
            "|---|---:|---:|---:|"]
    for w in workloads:
        cells = []
        for e in ENGINES:
            v = by.get((e, w))
            cells.append(f"{min(v):,.0f} - {max(v):,.0f}" if v else "-")
        rows.append(f"| {w} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def behind(res):
    out = []
    for w in res["workloads"]:
        r = res["ratios"][w]
        for peer in ("rocksdb", "fjall"):
            x = r.get(f"lsm/{peer}")
            if x is None:
                continue
            goal = 1.2 if w in TARGET_12 else 1.0
            if x < goal:
                out.append((w, peer, x, goal))
    return out


SCALE_100M = "cargo run --release -- --scale --num 100000000 --reads 10000000 --dir /work/bench-100m"
SCALE_10M = "cargo run --release -- --scale --num 10000000 --reads 10000000 --dir /work/bench-10m"


def rerun(res):
    """The Rerun section: every command, whichever results are present."""
    num, reps = (res["settings"]["num"], res["settings"]["reps"]) if res else (1000000, 3)
    run = f"cargo run --release -- --num {num} --reps {reps}"
    lines = ["## Rerun\n", "```sh",
             "apt-get install -y libclang-dev clang   # the rocksdb crate's bindgen",
             "pip install matplotlib                  # for the chart (without it the chart is left as it is)",
             f"# {num:,} keys, every workload, {reps} interleaved repetitions -> docs/benchmarks/results.json",
             "# (the default: RocksDB bundled with librocksdb-sys, built from source; a long C++ build)",
             f"cd benches/peers && {run}",
             "# scale, 10M keys, one repetition, engines one after another -> docs/benchmarks/results_10m.json",
             f"cd benches/peers && {SCALE_10M}",
             "# scale, 100M keys (about 11.6 GB of user data; 15-25 GB of disk for one engine at a time)",
             "# -> docs/benchmarks/results_100m.json; on a quiet machine, nothing else running",
             f"cd benches/peers && {SCALE_100M}",
             "# space at each engine's default compression, 10M keys whose values compress to about half",
             "# -> docs/benchmarks/space_defaults_10m.json (RocksDB with snappy linked: its own build)",
             "cd benches/peers && CARGO_TARGET_DIR=target-snappy cargo run --release --features rocksdb-snappy -- "
             "--scale --defaults --values compressible --num 10000000 --workloads readrandom --reads 1000000 "
             "--out ../../docs/benchmarks/space_defaults_10m.json --no-report",
             "# explicitly labelled alternative: link a system RocksDB instead of building one",
             "# (Debian's librocksdb-dev is 7.8.3; the Versions section then says so)",
             "cd benches/peers && ROCKSDB_LIB_DIR=/usr/lib/x86_64-linux-gnu "
             + run.replace("--release --", "--release --features system-rocksdb --"),
             "```\n",
             "`benches/peers` is a separate workspace (its own `[workspace]` table), so `cargo build` "
             "and `cargo test` at the root never build RocksDB or fjall. Set `CARGO_TARGET_DIR` to "
             "reuse a RocksDB already built. A run writes its results file (every run, medians, "
             "ratios, machine, versions, options), then calls `report.py`, which draws "
             "`docs/benchmarks/throughput.png` from the 1M results and writes this file from every "
             "results file present. `--engines`, `--threads`, `--read-percent`, `--seek-nexts`, "
             "`--key-size`, `--value-size`, `--seed`, `--dir`, `--out` and `--no-report` are also "
             "accepted; the scale mode adds `--reads` (operations of readrandom and mixed, default "
             "`--num`), `--writes` (puts of overwrite, default `--num`), `--workloads` (which of "
             "readrandom, readseq, overwrite, mixed follow fillrandom) and `--settle-timeout` "
             "(seconds, default 3600). `--dir` must be on a disk with room for one engine's "
             "database: each engine's directory is deleted when it finishes.\n"]
    return lines


def doc(res, scales, sources):
    lines = []
    a = lines.append
    a("# Benchmarks: lsm side by side with RocksDB and fjall\n")
    a("Generated by `benches/peers` (`report.py` from "
      + ", ".join(f"`docs/benchmarks/{os.path.basename(p)}`" for p in sources)
      + "); do not edit by hand, rerun instead.\n")
    lines += rerun(res)
    if res:
        lines += classic(res)
    for sc, src in scales:
        lines += scale_section(sc, src)
    notes = os.path.join(HERE, "NOTES.md")
    if os.path.exists(notes):
        a("## Notes\n")
        a(open(notes).read().rstrip() + "\n")
    return "\n".join(lines)


def classic(res):
    s, m, v, l = res["settings"], res["machine"], res["versions"], res["load_average_1m"]
    extras = [w for w in res["workloads"] if w not in HEADLINE]
    lines = []
    a = lines.append
    a(f"## {s['num']:,} keys: every workload, {s['reps']} interleaved repetitions\n")
    a("### Method\n")
    a(f"- {s['num']:,} keys per workload, {s['key_size']} B keys (decimal numbers zero-padded, "
      f"as in `lsm bench`), {s['value_size']} B values, random keys from the same splitmix64 "
      "generator as `lsm bench`. Single-threaded except `mixed`.")
    a(f"- {s['reps']} repetitions, interleaved: in every repetition each engine runs all "
      "workloads in turn on fresh directories, and the engine order rotates each repetition "
      "(rep 1: lsm, rocksdb, fjall; rep 2: rocksdb, fjall, lsm; ...), so the noise of a "
      "shared machine hits every engine alike. The tables show the median per engine and "
      "workload; the spread of the repetitions is below.")
    a("- Per engine and repetition: `fillseq` into an empty database (then flush and "
      "close); `fillrandom` into a second empty database, then `overwrite` on it (random "
      "keys, so about 63% of the key space is written by each); `fillbatch100` and "
      "`fillbatch1000`, each into an empty database: the same random puts, 100 or 1,000 "
      "to an atomic write batch (ops/s counts puts); then the fillseq database "
      "is **reopened** (every key exists) and, after waiting untimed for background "
      "flushes and compactions, `readrandom`, `readmissing` (keys past the key space), "
      "`readseq` (full forward scan), `readreverse` (full backward scan), `seekrandom` "
      f"(seek to a random existing key and read the entry landed on, {s['seek_nexts']} "
      f"nexts after it), `mixed` ({s['threads']} threads sharing {s['num']:,} operations, "
      f"{s['read_percent']}% reads / {100 - s['read_percent']}% writes on random keys) and "
      "`deleterandom` run on it.")
    a("- Timing is wall time around the whole loop, ops/s = operations / seconds. "
      "Each engine is driven through one `Engine` trait (`src/engine.rs`) with its fastest "
      "ordinary public API: lsm `get` (returns an owned `Vec`) and `raw_iter`, RocksDB "
      "`get_pinned` and `raw_iterator`, fjall `get`, `iter` and `range` (fjall has no "
      "reusable seekable cursor, so `seekrandom` opens a range per seek).")
    a("- Equal durability: WAL/journal on, each write handed to the OS (survives a process "
      "crash), no fsync per write. Equal budgets: 64 MiB memtable, 64 MiB block cache, "
      "bloom filters 10 bits/key, 4 KiB blocks, no compression, 2 background threads. "
      "lsm additionally has its key cache at the default (100,000 entries), which the "
      "others do not have. lsm charges index and filter partitions (512 bytes each) to "
      "its block cache and pins those of level 0; RocksDB keeps them in its table "
      "readers, outside the cache (its default, `cache_index_and_filter_blocks = false`); "
      "fjall pins them for L0 and L1 and caches them for deeper levels (its defaults).\n")
    a("### Machine\n")
    a(f"- CPU: {m['cpu']}, {m['nproc']} cores (nproc)")
    a(f"- Memory: {m['memory_gib']} GiB; kernel {m['kernel']}; {m['os']}")
    a(f"- Load average (1 min) during the run: mean {l['mean']:.2f}, min {l['min']:.2f}, "
      f"max {l['max']:.2f} (start {l['start']:.2f}, end {l['end']:.2f}; sampled every 5 s). "
      "The machine is shared with other work: absolute numbers are noisy, the interleaved "
      "ratios less so.")
    a(f"- Date: {res['date']}; whole run {res['wall_seconds'] / 60:.1f} min\n")
    a("### Versions\n")
    a(f"- lsm {v['lsm']} at commit `{v['lsm_commit']}`")
    a(f"- RocksDB {v['rocksdb']} (crate `rocksdb` {v['rocksdb_crate']}, "
      f"`librocksdb-sys` {v['librocksdb_sys']}); RocksDB itself: {v.get('rocksdb_source', 'bundled')}")
    a(f"- fjall {v['fjall']} (`lsm-tree` {v['lsm_tree']})")
    a(f"- {v['rustc']}, {v['profile']} profile (`debug = 1`, `codegen-units = 4`, as the root crate)\n")
    a("### Options\n")
    for e in ENGINES:
        if e in res["options"]:
            a(f"**{e}**\n")
            for o in res["options"][e]:
                a(f"- {o}")
            a("")
    a("### Results\n")
    a(f"Median ops/s of {s['reps']} repetitions (higher is better); the ratio is lsm's "
      "throughput over the peer's (above 1.00x: lsm is faster).\n")
    a(table(res, HEADLINE))
    a("")
    if extras:
        a("Also run (not part of the comparison's targets):\n")
        a(table(res, extras))
        a("")
    a("![throughput](benchmarks/throughput.png)\n")
    a("Spread of the repetitions (ops/s):\n")
    a(spread(res, res["workloads"]))
    a("")
    a("### Where lsm is behind\n")
    b = behind(res)
    if not b:
        a("Nowhere: lsm is at least as fast as both peers on every workload, and at least "
          "1.2x on fillrandom and readrandom.\n")
    else:
        a("Targets: lsm at least as fast as RocksDB and fjall on every workload, and 1.2x "
          "on fillrandom and readrandom. Missed in this run:\n")
        for w, peer, x, goal in b:
            a(f"- {w}: {fmt_ratio(x)} of {peer} (target {goal:.1f}x)")
        a("")
    return lines


# ------------------------------------------------------------------------ scale


def size_name(n):
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def fmt(x, spec, unit=""):
    return "n/a" if x is None else f"{x:{spec}}{unit}"


def mib(b):
    return None if b is None else b / 1048576


def lat(r, q, div):
    p = r.get("put_latency") or {}
    return None if p.get(q) is None else p[q] / div


def scale_section(sc, src):
    s, m, v, l = sc["settings"], sc["machine"], sc["versions"], sc["load_average_1m"]
    num = s["num"]
    kv = s["key_size"] + s["value_size"]
    engines = [e for e in sc["engines"]]
    by = {(r["engine"], r["workload"]): r for e in engines for r in e["runs"]}
    names = [e["engine"] for e in engines]
    lines = []
    a = lines.append
    a(f"## Scale: {size_name(num)} keys\n")
    a(f"From `{os.path.basename(src)}`: `lsm-peers {s['args']}`.\n")
    a("### Method\n")
    a(f"- {num:,} keys of {s['key_size']} B and values of {s['value_size']} B "
      f"({num * kv / 1e9:.2f} GB of user data), one repetition, the engines one after "
      "another, each in a child process of its own (the harness re-executes itself with "
      "`--child`), on a fresh directory that is deleted when the engine is done. Same "
      "engine options as the interleaved runs (see Options there; printed again in the "
      "results file).")
    a(f"- Workloads, in this order on one database: `fillrandom` (every key of the key space "
      "exactly once, in a pseudo-random order: a Feistel permutation, so the database then "
      f"holds {num:,} live keys), then `readrandom` ({s['reads']:,} gets of random existing "
      f"keys), `readseq` (a full forward scan), `overwrite` ({s['writes']:,} puts of random "
      f"keys, with replacement) and `mixed` ({s['threads']} threads sharing {s['reads']:,} "
      f"operations, {s['read_percent']}% gets, the rest puts, random existing keys); "
      f"the workloads run are {', '.join(s['workloads'])}. The number of live keys stays "
      f"{num:,} throughout.")
    a("- Each workload's **window** is its loop plus an untimed wait for background work: "
      "until, for 5 checks 100 ms apart, the engine reports no flush or compaction running "
      "or pending (lsm: no immutable memtable and no flush or compaction finished; RocksDB: "
      "`num-running-flushes`, `num-running-compactions`, `mem-table-flush-pending`, "
      "`compaction-pending`; fjall: `outstanding_flushes`, `active_compactions`) **and** the "
      "process wrote no byte (`wchar`), capped at the settle timeout "
      f"({s['settle_timeout_seconds']} s; a timed-out wait is marked). ops/s is over the "
      "loop alone; every other metric is over the window.")
    a("- **ops/s**: operations / wall seconds of the loop (readseq: entries scanned).")
    a("- **write amp**: `write_bytes` of the child's `/proc/self/io` over the window (all "
      "threads: the bytes the process dirtied in the page cache for the block device, WAL, "
      "flushes and compactions alike, counted when written, whether or not written back "
      "yet) / user bytes put in the loop (puts x (key + value)). Read workloads: n/a. The "
      "results file also has `write_amp_net` (minus `cancelled_write_bytes`: dirty data of "
      "files deleted before writeback, such as short-lived WALs, which never reached the "
      "device) and `write_amp_syscall` (`wchar`: bytes passed to write calls).")
    a("- **space amp**: bytes allocated on disk under the database directory at the end "
      "of the window (the sum of `st_blocks` x 512 over every file, as `du`; the results "
      f"file also has the apparent size) / live user data ({num:,} x {kv} B).")
    a("- **max RSS**: the child's `VmHWM` at the end of the window, after resetting it at the "
      "window's start (`echo 5 > /proc/self/clear_refs`; marked when the kernel refused), so "
      "it is the peak of that window; the per-engine peak also covers open and close. "
      "Resident memory of the whole process: heap, stacks, and file pages mapped and "
      "touched (the binary itself included).")
    a("- **max fds**: the largest number of entries of `/proc/self/fd`, counted by a sampler "
      "thread every 50 ms and at the window's end (stdin/out/err included).")
    a("- **put p99 / p99.9 / longest**: the latency of every put of the loop (mixed: of its "
      "puts only, every thread), measured with two clock reads around the call alone and "
      "recorded in a log-linear histogram (64 buckets per power of two: the quantiles are "
      "bucket upper edges, at most 1.6% above the true value, never above the exact "
      "longest). The longest single put is the longest write stall the caller saw.\n")
    a("### Machine and versions\n")
    a(f"- CPU: {m['cpu']}, {m['nproc']} cores; memory {m['memory_gib']} GiB; kernel "
      f"{m['kernel']}; {m['os']}; clock source {m.get('clocksource', '?')}")
    a(f"- Load average (1 min): mean {l['mean']:.2f}, min {l['min']:.2f}, max {l['max']:.2f}")
    a(f"- Date: {sc['date']}; whole run {sc['wall_seconds'] / 60:.1f} min")
    a(f"- lsm {v['lsm']} at commit `{v['lsm_commit']}`; RocksDB {v['rocksdb']} "
      f"(crate `rocksdb` {v['rocksdb_crate']}, `librocksdb-sys` {v['librocksdb_sys']}): "
      f"{v.get('rocksdb_source', '?')}; fjall "
      f"{v['fjall']} (`lsm-tree` {v['lsm_tree']}); {v['rustc']}, {v['profile']} profile\n")
    failed = [e for e in engines if e.get("error")]
    for e in failed:
        a(f"**{e['engine']} failed**: {e['error']}\n")
    a("### Goals\n")
    a("| goal | result | |")
    a("|---|---|---|")
    for g in sc["goals"]:
        met = {True: "**met**", False: "**not met**", None: "not measured"}[g["met"]]
        a(f"| {g['goal']} | {g['value']} | {met} |")
    a("")
    a("### Throughput\n")
    a("| workload | lsm ops/s | RocksDB ops/s | fjall ops/s | lsm / RocksDB | lsm / fjall |")
    a("|---|---:|---:|---:|---:|---:|")
    for w in sc["workloads"]:
        ops = lambda e: by.get((e, w), {}).get("ops_per_sec")
        r = sc["ratios"].get(w, {})
        a(f"| {w} | {fmt_ops(ops('lsm'))} | {fmt_ops(ops('rocksdb'))} | {fmt_ops(ops('fjall'))} | "
          f"{fmt_ratio(r.get('lsm/rocksdb'))} | {fmt_ratio(r.get('lsm/fjall'))} |")
    a("")
    a("### Per workload and engine\n")
    a("| workload | engine | ops/s | write amp | space amp | max RSS MiB | max fds | "
      "put p99 µs | put p99.9 µs | longest put ms | settle s |")
    a("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w in sc["workloads"]:
        for e in names:
            r = by.get((e, w))
            if not r:
                continue
            settle = fmt(r["settle_seconds"], ".1f") + ("" if r["settled"] else " (timed out)")
            rss = fmt(mib(r["max_rss_bytes"]), ",.0f") + ("" if r.get("rss_peak_reset", True) else " (since start)")
            a(f"| {w} | {e} | {fmt_ops(r['ops_per_sec'])} | {fmt(r['write_amp'], '.2f')} | "
              f"{fmt(r['space_amp'], '.2f')} | {rss} | {r['max_open_fds']} | "
              f"{fmt(lat(r, 'p99_ns', 1e3), ',.1f')} | {fmt(lat(r, 'p999_ns', 1e3), ',.1f')} | "
              f"{fmt(lat(r, 'max_ns', 1e6), ',.2f')} | {settle} |")
    a("")
    a("### Per engine\n")
    a("| engine | peak RSS MiB | memtables + caches MiB | peak / budget | max fds | "
      "wall min | budget counted as |")
    a("|---|---:|---:|---:|---:|---:|---|")
    for e in engines:
        if e.get("error"):
            continue
        rss, bud = e["max_rss_bytes"], e["memory_budget_bytes"]
        a(f"| {e['engine']} | {mib(rss):,.0f} | {mib(bud):,.0f} | {rss / bud:.2f}x | "
          f"{e['max_open_fds']} | {e['child_wall_seconds'] / 60:.1f} | {e['memory_budget']} |")
    a("")
    a("The peak RSS includes the harness process itself (its RSS before opening the "
      "database: "
      + ", ".join(f"{e['engine']} {mib(e['baseline_rss_bytes']):.0f} MiB" for e in engines
                  if not e.get("error"))
      + ").\n")
    return lines


def load_all(argv):
    docs = os.path.join(ROOT, "docs")
    files = []
    it = iter(argv)
    for x in it:
        if x == "--docs":
            docs = next(it)
        else:
            files.append(x)
    bench = os.path.join(docs, "benchmarks")
    classic_res, classic_src = None, None
    scales = {}
    for p in sorted(glob.glob(os.path.join(bench, "results_*.json"))):
        r = json.load(open(p))
        if r.get("mode") == "scale":
            scales[r["settings"]["num"]] = (r, p)
    for p in files:
        r = json.load(open(p))
        if r.get("mode") == "scale":
            scales[r["settings"]["num"]] = (r, p)
        else:
            classic_res, classic_src = r, p
    default = os.path.join(bench, "results.json")
    if classic_res is None and os.path.exists(default):
        classic_res, classic_src = json.load(open(default)), default
    ordered = [scales[n] for n in sorted(scales, reverse=True)]
    return docs, classic_res, classic_src, ordered


def main():
    docs, res, src, scales = load_all(sys.argv[1:])
    if res is None and not scales:
        sys.exit("no results file")
    out_dir = os.path.join(docs, "benchmarks")
    os.makedirs(out_dir, exist_ok=True)
    wrote = []
    if res is not None:
        try:
            chart(res, os.path.join(out_dir, "throughput.png"))
            wrote.append(os.path.join(out_dir, "throughput.png"))
        except ImportError:
            print("matplotlib missing: the chart is left as it is (pip install matplotlib)")
    sources = ([src] if src else []) + [p for _, p in scales]
    with open(os.path.join(docs, "BENCHMARKS.md"), "w") as f:
        f.write(doc(res, scales, sources))
    wrote.append(os.path.join(docs, "BENCHMARKS.md"))
    print("wrote " + " and ".join(wrote))


if __name__ == "__main__":
    main()
