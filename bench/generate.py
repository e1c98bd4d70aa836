"""Deterministic generator of realistic Livepeer gateway event streams, at any scale.

Writes JSON-lines files (``events-00000.jsonl``, ... with ``--per-file`` lines each) plus
``_manifest.json`` (the leading underscore keeps it out of the Flink file source) into ``--out``:

    python -m bench.generate --events 1000000 --out var/bench/data/s42-n1000000 --seed 42

The same seed, size and stream count give byte-identical files.

What is modelled, copied from the real events in ``fixtures/livepeer/`` (see SOURCES.md there):

* ``--streams`` concurrent AI live-video sessions (each one stream_id + request_id); when a
  session ends a new one starts in its slot, so the number of active streams stays constant and
  more events mean more simulated time, not more state.
* per session, in event time: a complete ``stream_trace`` sequence (gateway_receive_stream_request,
  gateway_send_first_ingest_segment, runner_receive_first_ingest_segment,
  runner_send_first_processed_segment, gateway_receive_first_processed_segment,
  gateway_receive_few_processed_segments, gateway_ingest_stream_closed); ~6% of sessions find no
  orchestrator (gateway_no_orchestrators_available, then closed) and ~7% swap orchestrators
  (orchestrator_swap, then either a new orchestrator or no orchestrator and closed); a
  ``discovery_results`` after the request; ``create_new_payment`` every ~40 s;
  ``ai_stream_status`` every ~10 s whose first sample is the 0-fps warm-up;
  ``stream_ingest_metrics`` every 5 s with video and audio ``track_stats`` (either order) and
  cumulative ``peer_conn_stats`` bytes; ``ai_stream_events`` errors at the end.
* ``network_capabilities`` snapshots from three batch gateways: an array of orchestrators with
  on-chain ``address``, ``local_address``, ``orch_uri``, ``capabilities`` (capacities,
  ``constraints.PerCapability`` models), ``capabilities_prices`` and ``hardware[].gpu_info``;
  every tenth orchestrator is an old node with ``hardware``/``capabilities_prices`` null (the shape
  that broke the earlier parser in production).
* quirks: envelope ``timestamp`` a digit string (legacy gateways) or a number with ``data`` as a
  JSON-encoded string (upgraded gateways, as in the 2026-02-25 sample); ``gateway`` empty for
  some gateways; ``pipeline_id`` empty; orchestrator addresses mixed case (EIP-55-like) in
  capabilities and payments, lower case in stream events except ~5% of sessions; empty ``id``
  on ~0.2% of events; payments with an empty ``requestID``; ``data.timestamp`` a few ms off the
  envelope time (tens of ms for runner edges); ``orchestrator_swap`` without ``data.timestamp``.
* delivery: lines are written in arrival order; 95% arrive within 200 ms of their event time,
  4.5% within 10 s, 0.5% within 90 s (below the default 120 s allowed lateness), so every file
  is in time order up to that bounded disorder; ~0.1% are late (event time 1-6 h in the past,
  new id), ~0.3% are duplicate deliveries (the same line again up to 20 s later), ~0.1% are
  malformed (truncated JSON, garbage, JSON that is not a valid envelope).

The event mix at the default settings is close to the production Kafka sample (about half
stream_ingest_metrics, a quarter ai_stream_status, a tenth stream_trace) and the average line is
~700 bytes, like the sample's 706.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.generate_session import session
from bench.generate_world import (
    CAPABILITY_GATEWAYS,
    NETCAPS_SHARE,
    P_DUPLICATE,
    P_LATE,
    P_MALFORMED,
    Stats,
    World,
)

GENERATOR_VERSION = 1
DEFAULT_START_MS = 1_771_804_800_000  # 2026-02-23T00:00:00Z, the week of the real snapshots
DEFAULT_STREAMS = 200
DEFAULT_PER_FILE = 100_000
FILE_PATTERN = "events-*.jsonl"
MANIFEST = "_manifest.json"




def _with_faults(
    world: World, lines: list[tuple[int, str, str]], stats: Stats
) -> list[tuple[int, str, str]]:
    """Add duplicate deliveries, malformed lines and late events next to a session's lines."""
    rng = world.rng
    extra: list[tuple[int, str, str]] = []
    for arrival, etype, line in lines:
        r = rng.random()
        if r < P_DUPLICATE:
            extra.append((arrival + rng.randint(200, 20_000), etype, line))
            stats.extras["duplicate"] += 1
        elif r < P_DUPLICATE + P_MALFORMED:
            extra.append((arrival, "malformed", world.malformed(line, arrival)))
            stats.extras["malformed"] += 1
        elif r < P_DUPLICATE + P_MALFORMED + P_LATE and etype in (
            "stream_ingest_metrics",
            "ai_stream_status",
        ):
            shift = rng.randint(3_600_000, 6 * 3_600_000)
            extra.append((arrival, etype, world.late_copy(etype, line, shift)))
            stats.extras["late"] += 1
    return lines + extra


def generate(
    out_dir: Path | str,
    events: int,
    seed: int = 42,
    streams: int = DEFAULT_STREAMS,
    per_file: int = DEFAULT_PER_FILE,
    start_ms: int = DEFAULT_START_MS,
) -> dict[str, Any]:
    """Write exactly ``events`` lines into ``out_dir`` and return the manifest (also written).

    Sessions start in ``streams`` slots (staggered over the first 3 minutes); once the lines
    scheduled reach ``events`` no new session starts, the last one is shortened to fit and any
    remainder is filled with standalone payments, so every started session is complete.
    """
    if events < 1 or streams < 1 or per_file < 1:
        raise ValueError(
            f"events, streams and per_file must be >= 1 (got {events}, {streams}, {per_file})"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(FILE_PATTERN):
        old.unlink()
    world = World(seed, streams, start_ms)
    rng = world.rng
    stats = Stats()
    started = time.perf_counter()

    # starts: (time, seq, kind, index) with kind 0 = session slot, 1 = capability ticker
    starts: list[tuple[int, int, int, int]] = []
    seq = 0
    for slot in range(streams):
        starts.append((start_ms + rng.randint(0, 180_000), seq, 0, slot))
        seq += 1
    rate = streams * 0.4  # events per second at steady state
    ticker_ms = int(
        max(5_000.0, min(600_000.0, len(CAPABILITY_GATEWAYS) / (NETCAPS_SHARE * rate) * 1000))
    )
    for i in range(len(CAPABILITY_GATEWAYS)):
        starts.append((start_ms + rng.randint(0, ticker_ms), seq, 1, i))
        seq += 1
    heapq.heapify(starts)

    pending: list[tuple[int, int, str, str]] = []
    scheduled = 0
    file_index = 0
    buffer: list[str] = []
    files: list[str] = []

    def flush() -> None:
        nonlocal file_index, buffer
        name = f"events-{file_index:05d}.jsonl"
        data = "\n".join(buffer) + "\n"
        (out / name).write_text(data, encoding="utf-8")
        stats.bytes += len(data.encode("utf-8")) - len(buffer)
        files.append(name)
        file_index += 1
        buffer = []

    def write(item: tuple[int, int, str, str]) -> None:
        arrival, _, etype, line = item
        buffer.append(line)
        stats.lines += 1
        stats.by_type[etype] += 1
        if not stats.first_ms:
            stats.first_ms = arrival
        stats.last_ms = arrival
        if len(buffer) >= per_file:
            flush()

    while starts and scheduled < events:
        when, _, kind, index = starts[0]
        while pending and pending[0][0] < when:
            write(heapq.heappop(pending))
        heapq.heappop(starts)
        remaining = events - scheduled
        if kind == 1:
            gw = world.cap_gateways[index]
            lines = [(when + world.delay(), "network_capabilities", world.netcaps(gw, when))]
            heapq.heappush(starts, (when + ticker_ms + rng.randint(-500, 500), seq, 1, index))
            seq += 1
        else:
            lines = []
            if remaining >= 40:
                scenario, lines = session(world, when, max_lines=remaining * 9 // 10)
                lines = _with_faults(world, lines, stats)
                if len(lines) <= remaining:
                    stats.sessions[scenario] += 1
                    end = max(a for a, _, _ in lines)
                    heapq.heappush(starts, (end + rng.randint(1_000, 30_000), seq, 0, index))
                    seq += 1
                else:
                    lines = []
        if not lines and kind == 0:
            o = rng.choice(world.orchs)
            gw = rng.choice(world.gateways)
            for k in range(remaining):  # standalone payments (empty requestID) fill the rest
                ts = when + 37 * k
                data = (
                    f'{{"capability":"","clientIP":"","faceValue":"2402400000000000 WEI",'
                    f'"manifestID":"{rng.getrandbits(32):08x}","numTickets":"1","orchestrator":"{o.uri}",'
                    f'"price":"{o.price}.021 wei/pixel","recipient":"{o.address}","requestID":"",'
                    f'"sender":"{gw.sender}","sessionID":"{rng.getrandbits(32):08x}","winProb":"0.0009990010"}}'
                )
                lines.append(
                    (
                        ts,
                        "create_new_payment",
                        world.envelope(gw, world.event_id(), "create_new_payment", ts, data),
                    )
                )
        lines = lines[:remaining]
        for arrival, etype, line in lines:
            heapq.heappush(pending, (arrival, seq, etype, line))
            seq += 1
        scheduled += len(lines)
    while pending:
        write(heapq.heappop(pending))
    if buffer:
        flush()

    elapsed = time.perf_counter() - started
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "events": stats.lines,
        "streams": streams,
        "per_file": per_file,
        "start_ms": start_ms,
        "files": files,
        "bytes": stats.bytes,
        "avg_line_bytes": round(stats.bytes / max(1, stats.lines), 1),
        "by_type": dict(sorted(stats.by_type.items())),
        "extras": dict(sorted(stats.extras.items())),
        "sessions": dict(sorted(stats.sessions.items())),
        "first_arrival_ms": stats.first_ms,
        "last_arrival_ms": stats.last_ms,
        "seconds": round(elapsed, 2),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(out_dir: Path | str) -> dict[str, Any] | None:
    """The manifest of a generated directory, or None when it has none."""
    path = Path(out_dir) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


def dataset(
    root: Path, size: int, seed: int, streams: int, per_file: int
) -> tuple[Path, dict[str, Any]]:
    """The generated files for this size, generated once and cached."""
    out = root / "data" / f"s{seed}-n{size}-k{streams}-f{per_file}-v{GENERATOR_VERSION}"
    manifest = read_manifest(out)
    if (
        manifest
        and manifest.get("events") == size
        and manifest.get("generator_version") == GENERATOR_VERSION
    ):
        print(
            f"using cached {out} ({manifest['bytes'] / 1e6:,.0f} MB, avg line {manifest['avg_line_bytes']} bytes)"
        )
        return out, manifest
    print(f"generating {size:,} events into {out} ...", flush=True)
    manifest = generate(out, size, seed=seed, streams=streams, per_file=per_file)
    print(
        f"  {manifest['seconds']} s, {manifest['bytes'] / 1e6:,.0f} MB, avg line {manifest['avg_line_bytes']} bytes"
    )
    return out, manifest


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.generate``: write a data set and print its manifest figures."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--events", type=int, required=True, help="number of lines to write")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--streams", type=int, default=DEFAULT_STREAMS, help="concurrent active streams"
    )
    parser.add_argument("--per-file", type=int, default=DEFAULT_PER_FILE, help="lines per file")
    parser.add_argument(
        "--start-ms", type=int, default=DEFAULT_START_MS, help="event time of the first session"
    )
    args = parser.parse_args(argv)
    m = generate(args.out, args.events, args.seed, args.streams, args.per_file, args.start_ms)
    total = m["events"]
    print(
        f"wrote {total} events in {len(m['files'])} files to {args.out} in {m['seconds']} s "
        f"({total / max(m['seconds'], 1e-9):,.0f} events/s)"
    )
    print(f"  {m['bytes'] / 1e6:,.1f} MB, average line {m['avg_line_bytes']} bytes")
    for etype, n in m["by_type"].items():
        print(f"  {etype:<24} {n:>10} {n / total:7.2%}")
    print(f"  extras: {m['extras']}  sessions: {m['sessions']}")
    span = (m["last_arrival_ms"] - m["first_arrival_ms"]) / 3_600_000
    print(f"  event time span {span:.2f} h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
