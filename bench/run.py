"""One command for the benchmark table: generate (cached), run both baselines and the pipeline.

    python -m bench.run --sizes 100000,1000000[,5000000] [--latency 5000,10000,20000]

For each size: the generated files (cached under ``var/bench/data/`` by seed, size, streams and
generator version) are processed by (a) the careful Python baseline, (b) the ClickHouse SQL
batch baseline (both: ``python -m bench.baselines``), the pipeline (``python -m jobs run
naap`` with NETPULSE_INPUT_PATH / NETPULSE_VAR_DIR, after ``python -m jobs migrate``) on the
local MiniCluster (c) in BATCH mode over the generated files as they are (a bounded run's
default) and (d) in STREAMING mode over the files merged into one time-ordered file (how a topic
delivers them), and (e) the streaming job submitted to the local standalone cluster
(bench/cluster_leg.py, which also reports the largest completed checkpoint), each in its own
process and its own var directory (chDB allows one process per database directory).

Measured per leg: end-to-end seconds (process start to exit, the schema migration excluded:
the pipeline's includes JVM start-up and job submission), events/s from it, peak RSS of the
whole process tree (JVM, Python workers, chDB: /proc sampled every 0.2 s), CPU seconds of the
tree, and rows per table, checked against baseline (a). Prints a Markdown table with the ratios
pipeline/(a) and pipeline/(b), and writes every figure to ``var/bench/results-<time>.json``.

With ``--latency`` the streaming latency legs follow (window close to queryable, one leg per feed
rate) and get their own table: by default through Kafka (bench/latency_kafka.py: a local broker,
a 4-partition topic, produced at the rate; consumer lag, CPU and peak RSS per leg), or with
``--latency-source files`` through the monitored directory (bench/latency.py).

Run it on an otherwise idle machine: the load average is printed before every leg and a leg
started under load is flagged.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import generate
from bench.generate import dataset
from bench.process_tree import PROJECT_ROOT, TreeSampler, count_rows
from bench.report import LEG_NAMES, latency_markdown, machine, markdown

LEGS = ("python", "sql", "batch", "pipeline", "cluster")
SQL_MAX_EVENTS = 2_000_000  # (b) keeps all input in Memory tables (see BENCHMARKS.md, Caveats)


def _copy_output(stream: Any, out: Any, label: str) -> None:
    """The leg's output into its log; its progress lines (jobs/progress.py) also to stderr."""
    for line in stream:
        out.write(line)
        if line.startswith("progress "):
            sys.stderr.write(f"  [{label}] {line}")
            sys.stderr.flush()


def run_measured(cmd: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``cmd``; return wall seconds, exit code, peak tree RSS (MB) and CPU seconds.

    Its output goes to ``log``; its progress lines are shown on stderr as it runs.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT, text=True
        )
        copier = threading.Thread(target=_copy_output, args=(proc.stdout, out, log.stem), daemon=True)
        copier.start()
        sampler = TreeSampler(proc.pid)
        sampler.start()
        code = proc.wait()
        wall = time.perf_counter() - started
        copier.join(timeout=30)
        sampler.stopped.set()
        sampler.join()
    return {
        "wall_s": round(wall, 2),
        "exit_code": code,
        "peak_rss_mb": round(sampler.peak_kb / 1024),
        "cpu_s": round(sampler.cpu_s, 1),
        "log": str(log),
    }


# -- legs ------------------------------------------------------------------------------------------
def _load() -> float:
    return os.getloadavg()[0]


def run_baseline(impl: str, data: Path, var: Path, logs: Path) -> dict[str, Any]:
    """Run one baseline in its own measured process; returns its figures."""
    result_file = logs / f"{impl}.json"
    result_file.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "bench.baselines",
        "--impl",
        impl,
        "--input",
        str(data),
        "--var",
        str(var),
        "--json",
        str(result_file),
    ]
    measured = run_measured(cmd, dict(os.environ), logs / f"{impl}.log")
    if measured["exit_code"] != 0 or not result_file.exists():
        return {**measured, "error": f"exit code {measured['exit_code']}, see {measured['log']}"}
    inner = json.loads(result_file.read_text())
    e2e = measured["wall_s"] - inner["migrate_s"]
    return {
        **measured,
        "events": inner["events"],
        "e2e_s": round(e2e, 2),
        "work_s": inner["work_s"],
        "events_per_s": round(inner["events"] / e2e),
        "rows": inner["rows"],
        "profile_s": inner["profile_s"],
    }


def files_input(data: Path, var: Path) -> Path:
    """A fresh var dir whose input directory links the generated files as they are."""
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True)
    files = var / "input"
    files.mkdir()
    for part in sorted(data.glob("events-*.jsonl")):
        (files / part.name).symlink_to(part.resolve())
    return files


def single_input(data: Path, var: Path) -> Path:
    """A fresh var dir holding the generated files as one time-ordered input file.

    A STREAMING run over a directory reads its files in no particular order, and event time
    would call a file read after a later one late: the streaming legs get the files as one
    time-ordered file, as the topic would deliver them (prepared before the clock starts).
    """
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True)
    single = var / "input"
    single.mkdir()
    with (single / "events.jsonl").open("wb") as out:
        for part in sorted(data.glob("events-*.jsonl")):
            with part.open("rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
    return single


def run_cluster(data: Path, var: Path, logs: Path, events: int) -> dict[str, Any]:
    """The pipeline on the local standalone cluster (bench/cluster_leg.py measures it)."""
    single = single_input(data, var)
    out = logs / "cluster.json"
    out.unlink(missing_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "bench.cluster_leg", "--input", str(single), "--var", str(var), "--json", str(out)]
    env = dict(os.environ, NETPULSE_RUNTIME_MODE="streaming")
    with open(logs / "cluster.log", "w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=env).returncode
    if not out.exists():
        return {"error": f"exit code {code}, see {logs / 'cluster.log'}"}
    result = json.loads(out.read_text())
    if "error" in result:
        return result
    return {
        **result,
        "events": events,
        "events_per_s": round(events / result["e2e_s"]),
        "rows": count_rows(var, logs, "cluster"),
    }


def run_pipeline(data: Path, var: Path, logs: Path, events: int, mode: str = "streaming") -> dict[str, Any]:
    """The naap pipeline on the MiniCluster.

    ``batch`` over the files as they are, ``streaming`` over one time-ordered file.
    """
    source = files_input(data, var) if mode == "batch" else single_input(data, var)
    env = dict(os.environ, NETPULSE_VAR_DIR=str(var), NETPULSE_INPUT_PATH=str(source), NETPULSE_RUNTIME_MODE=mode)
    name = "pipeline" if mode == "streaming" else "batch"
    migrated = run_measured(
        [sys.executable, "-m", "jobs", "migrate"], env, logs / f"{name}-migrate.log"
    )
    if migrated["exit_code"] != 0:
        return {**migrated, "error": f"migrate failed, see {migrated['log']}"}
    measured = run_measured(
        [sys.executable, "-m", "jobs", "run", "naap"], env, logs / f"{name}.log"
    )
    if measured["exit_code"] != 0:
        return {**measured, "error": f"exit code {measured['exit_code']}, see {measured['log']}"}
    rows = count_rows(var, logs, name)
    return {
        **measured,
        "events": events,
        "e2e_s": measured["wall_s"],
        "work_s": None,
        "events_per_s": round(events / measured["wall_s"]),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.run``: generate, run the baselines and the pipeline, print the tables."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated event counts")
    parser.add_argument("--legs", default=",".join(LEGS), help=f"subset of {','.join(LEGS)}")
    parser.add_argument(
        "--latency", default="", help="comma-separated feed rates for the streaming latency legs (bench/latency.py)"
    )
    parser.add_argument("--latency-seconds", type=float, default=60.0, help="feed duration of each latency leg")
    parser.add_argument(
        "--latency-source", choices=("kafka", "files"), default="kafka",
        help="kafka: a local broker and a 4-partition topic (bench/latency_kafka.py); files: the watched directory",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--streams", type=int, default=generate.DEFAULT_STREAMS)
    parser.add_argument("--per-file", type=int, default=generate.DEFAULT_PER_FILE)
    parser.add_argument(
        "--root", type=Path, default=PROJECT_ROOT / "var" / "bench", help="data, runs and results"
    )
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    legs = [leg for leg in args.legs.split(",") if leg]
    unknown = set(legs) - set(LEGS)
    if unknown:
        parser.error(f"unknown legs {sorted(unknown)}; choose from {LEGS}")
    root = args.root.resolve()
    info = machine()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, Python {info['python']}"
    )
    results = []
    for size in sizes:
        data, manifest = dataset(root, size, args.seed, args.streams, args.per_file)
        entry: dict[str, Any] = {"size": size, "data": str(data), "manifest": manifest, "legs": {}}
        for leg in legs:
            if leg == "sql" and size > SQL_MAX_EVENTS:
                print(f"[{size:,}] {LEG_NAMES[leg]}: skipped (holds every line in memory: ~4.6 GB per 1M events)")
                continue
            load = _load()
            flag = (
                "  (machine busy: figures unreliable)" if load > 0.5 * (os.cpu_count() or 1) else ""
            )
            print(f"[{size:,}] {LEG_NAMES[leg]} (load {load:.1f}){flag} ...", flush=True)
            logs = root / "logs" / f"n{size}"
            var = root / "runs" / f"{leg}-n{size}"
            if leg in ("pipeline", "batch"):
                x = run_pipeline(data, var, logs, manifest["events"], "streaming" if leg == "pipeline" else "batch")
            elif leg == "cluster":
                x = run_cluster(data, var, logs, manifest["events"])
            else:
                x = run_baseline(leg, data, var, logs)
            x["load_before"] = load
            entry["legs"][leg] = x
            if "error" in x:
                print(f"  failed: {x['error']}")
            else:
                print(
                    f"  {x['e2e_s']} s, {x['events_per_s']:,} events/s, peak RSS {x['peak_rss_mb']:,} MB, "
                    f"CPU {x['cpu_s']} s"
                )
        results.append(entry)
    table = markdown(results)
    latency = []
    for rate in [int(r) for r in args.latency.split(",") if r]:
        from bench import latency as latency_bench
        from bench import latency_kafka

        load = _load()
        flag = "  (machine busy: figures unreliable)" if load > 0.5 * (os.cpu_count() or 1) else ""
        print(
            f"[latency] {args.latency_source}: feeding {rate:,} events/s for {args.latency_seconds:.0f} s "
            f"(load {load:.1f}){flag} ...",
            flush=True,
        )
        if args.latency_source == "kafka":
            try:
                leg = latency_kafka.run(rate, args.latency_seconds, root)
                print("  " + latency_kafka.describe(leg), flush=True)
            except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                leg = {"source": "kafka", "rate": rate, "seconds": args.latency_seconds, "error": str(exc)[:300]}
                print(f"  failed: {exc}", flush=True)
            latency.append(leg)
        else:
            latency.append(latency_bench.run(rate, args.latency_seconds, 1_000_000, root))
    if results:  # `--sizes ''` runs the latency legs only
        print()
        print(table)
    if latency:
        print()
        print(latency_markdown(latency))
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = root / f"results-{stamp}.json"
    out.write_text(
        json.dumps(
            {"machine": info, "args": vars(args) | {"root": str(root)}, "results": results, "latency": latency},
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"\nfigures: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
