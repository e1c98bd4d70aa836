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
import hashlib
import heapq
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENERATOR_VERSION = 1
DEFAULT_START_MS = 1_771_804_800_000  # 2026-02-23T00:00:00Z, the week of the real snapshots
DEFAULT_STREAMS = 200
DEFAULT_PER_FILE = 100_000
FILE_PATTERN = "events-*.jsonl"
MANIFEST = "_manifest.json"

STATUS_INTERVAL_MS = 10_000
INGEST_INTERVAL_MS = 5_000
PAYMENT_INTERVAL_MS = 40_000

P_NO_ORCHESTRATOR = 0.06
P_SWAP = 0.07
P_MIXED_CASE_SESSION = 0.05
P_EMPTY_ID = 0.002
P_DUPLICATE = 0.003
P_MALFORMED = 0.001
P_LATE = 0.001
NETCAPS_SHARE = 0.0025  # share of lines that are network_capabilities snapshots

MODELS = (
    "streamdiffusion-sdxl",
    "streamdiffusion-sdxl-v2v",
    "streamdiffusion-sdxl-faceid",
    "streamdiffusion",
    "comfystream",
)
# (name, is_upgraded): upgraded gateways send a numeric timestamp and `data` as a JSON string.
STREAM_GATEWAYS = (
    ("cloud-spe-ai-live-video-tester-fra", False),
    ("cloud-spe-ai-live-video-tester-mdw", False),
    ("cloud-spe-ai-live-video-tester-sea", False),
    ("", False),
    ("livepeer-ai-gateway-nyc", False),
    ("livepeer-ai-gateway-ams", False),
    ("livepeer-ai-gateway-sin", True),
    ("livepeer-ai-gateway-lax", True),
)
# production traffic (the Jan 2026 Kafka sample) has an empty gateway name
GATEWAY_WEIGHTS = (1, 1, 1, 4, 1, 1, 1, 1)
CAPABILITY_GATEWAYS = (
    ("", False),
    ("cloud-spe-ai-batch-tester-mdw", True),
    ("cloud-spe-ai-batch-fra", True),
)
GPUS = (
    ("NVIDIA GeForce RTX 4090", 8, 9, 25_757_220_864),
    ("NVIDIA GeForce RTX 5090", 12, 0, 34_190_917_632),
    ("NVIDIA GeForce RTX 3090", 8, 6, 25_447_170_048),
    ("NVIDIA L40S", 8, 9, 48_305_799_168),
    ("NVIDIA A100-SXM4-80GB", 8, 0, 85_899_345_920),
    ("NVIDIA H100 80GB HBM3", 9, 0, 85_520_809_984),
)
HOSTS = (
    "rtav-orch{n}.xodeapp.xyz",
    "lpt{n}.gzp.link",
    "legiocorp{n}.link",
    "server{n}.ai-bitbender.xyz",
    "rtv{n}.nullworks.xyz",
    "ai{n}.nightnode.net",
    "ai{n}.ultimaratio.link",
    "livepeer-ai{n}.speedybird.xyz",
)
LAST_ERROR = (
    "Error updating params: Cannot change output resolution mid-stream (Current resolution: "
    "(512, 512) requested resolution: (1024, 1024)). Output resolution (e.g. upscalers) can only "
    "be configured when starting a new stream."
)
CAPACITIES = ",".join(f'"{i}":1' for i in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 26))
GARBAGE = (
    "garbage{",
    "}{",
    "not json at all",
    "\\x00\\x01\\x02",
    '{"id":"unterminated',
    "<html><body>502 Bad Gateway</body></html>",
)


def _eip55_like(hex40: str) -> str:
    """Mixed-case form of a lower-case address (sha256 instead of keccak: only the look matters)."""
    digest = hashlib.sha256(hex40.encode()).hexdigest()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(hex40)
    )


@dataclass
class Orchestrator:
    address: str  # on-chain, mixed case
    local: str  # the node's hot key, mixed case (as in network_capabilities)
    local_lc: str  # lower case (as in stream events)
    uri: str
    models: tuple[str, ...]
    gpus: list[tuple[str, str, int, int, int, str]]  # (id, name, major, minor, memory_total, model)
    price: int
    version: str
    runner_version: str
    is_old_node: bool
    restart_count: int


@dataclass
class Gateway:
    name: str
    upgraded: bool
    sender: str
    audio_first: bool


@dataclass
class Stats:
    lines: int = 0
    bytes: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    extras: Counter[str] = field(default_factory=Counter)
    sessions: Counter[str] = field(default_factory=Counter)
    first_ms: int = 0
    last_ms: int = 0


class _World:
    """Entities and per-line builders; every random choice goes through one seeded RNG."""

    def __init__(self, seed: int, streams: int, start_ms: int) -> None:
        self.rng = random.Random(seed)
        self.start_ms = start_ms
        rng = self.rng
        self.gateways = [
            Gateway(name, upgraded, _eip55_like(f"{rng.getrandbits(160):040x}"), rng.random() < 0.3)
            for name, upgraded in STREAM_GATEWAYS
        ]
        self.cap_gateways = [
            Gateway(name, upgraded, "", False) for name, upgraded in CAPABILITY_GATEWAYS
        ]
        n_orch = min(200, max(12, streams // 5))
        self.orchs = [self._orchestrator(i) for i in range(n_orch)]
        self.by_model: dict[str, list[Orchestrator]] = {m: [] for m in MODELS}
        for o in self.orchs:
            if not o.is_old_node:
                for m in o.models:
                    self.by_model[m].append(o)
        for m in MODELS:  # every model served by someone
            if not self.by_model[m]:
                self.by_model[m].append(next(o for o in self.orchs if not o.is_old_node))
        self.netcaps_cursor = 0

    # -- entities -------------------------------------------------------------------------
    def _orchestrator(self, i: int) -> Orchestrator:
        rng = self.rng
        local_lc = f"{rng.getrandbits(160):040x}"
        host = HOSTS[i % len(HOSTS)].format(n=i // len(HOSTS) or "")
        models = tuple(rng.sample(MODELS, rng.choice((1, 1, 2))))
        gpus = []
        for _ in range(rng.choice((1, 1, 2, 2, 4))):
            name, major, minor, total = rng.choice(GPUS)
            gid = self.uuid().replace("-", "")
            gid = f"GPU-{gid[:8]}-{gid[8:12]}-{gid[12:16]}-{gid[16:20]}-{gid[20:32]}"
            gpus.append((gid, name, major, minor, total, rng.choice(models)))
        return Orchestrator(
            address=_eip55_like(f"{rng.getrandbits(160):040x}"),
            local=_eip55_like(local_lc),
            local_lc="0x" + local_lc,
            uri=f"https://{host}:{rng.choice((8888, 8935, 18935, 28935, 9924, 8443))}",
            models=models,
            gpus=gpus,
            price=rng.randint(900, 2600),
            version=rng.choice(("0.8.8", "0.8.8-3a5678ec-dirty", "0.8.9-cd208259", "0.8.7")),
            runner_version=rng.choice(("0.14.0", "0.14.1", "0.13.11-a201f99d")),
            is_old_node=i % 10 == 9,  # every tenth: old nodes without hardware or prices
            restart_count=rng.choice((0, 0, 0, 1, 2, 3)),
        )

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"

    def event_id(self) -> str:
        return "" if self.rng.random() < P_EMPTY_ID else self.uuid()

    def delay(self) -> int:
        """Arrival minus event time: bounded disorder (always below the 120 s lateness)."""
        r = self.rng.random()
        if r < 0.95:
            return int(r * 210)
        if r < 0.995:
            return self.rng.randint(200, 10_000)
        return self.rng.randint(10_000, 90_000)

    @staticmethod
    def envelope(gw: Gateway, event_id: str, etype: str, ts: int, data: str) -> str:
        if gw.upgraded:
            return (
                f'{{"id":"{event_id}","type":"{etype}","timestamp":{ts},'
                f'"gateway":"{gw.name}","data":{json.dumps(data)}}}'
            )
        return (
            f'{{"id":"{event_id}","type":"{etype}","timestamp":"{ts}",'
            f'"gateway":"{gw.name}","data":{data}}}'
        )

    # -- network_capabilities ---------------------------------------------------------------
    def orch_entry(self, o: Orchestrator) -> str:
        rng = self.rng
        if rng.random() < 0.002:  # an operator upgrades: a new metadata version
            o.version = rng.choice(("0.8.9", "0.9.0", "0.9.1-rc1"))
        if o.is_old_node:
            return (
                f'{{"address":"{o.address}","local_address":"{o.local}","orch_uri":"{o.uri}",'
                f'"capabilities":{{"bitstring":[0],"mandatories":[4096],"version":"0.7.8-1.2.4-2e3fae7a",'
                f'"constraints":{{}}}},"capabilities_prices":null,"hardware":null}}'
            )
        per_cap = ",".join(
            f'"{m}":{{"warm":true,"runnerVersion":"{o.runner_version}","capacityInUse":{rng.randint(0, 2)}}}'
            for m in o.models
        )
        prices = ",".join(
            f'{{"pricePerUnit":{o.price},"pixelsPerUnit":1,"capability":35,"constraint":"{m}"}}'
            for m in o.models
        )
        hardware = ",".join(
            f'{{"pipeline":"live-video-to-video","model_id":"{model}","gpu_info":{{"0":{{"id":"{gid}",'
            f'"name":"{name}","major":{major},"minor":{minor},'
            f'"memory_free":{total - rng.randint(400_000_000, 12_000_000_000)},"memory_total":{total}}}}}}}'
            for gid, name, major, minor, total, model in o.gpus
        )
        return (
            f'{{"address":"{o.address}","local_address":"{o.local}","orch_uri":"{o.uri}",'
            f'"capabilities":{{"bitstring":[34426871807],"capacities":{{{CAPACITIES},"35":{len(o.gpus)}}},'
            f'"version":"{o.version}","constraints":{{"PerCapability":{{"35":{{"models":{{{per_cap}}}}}}}}}}},'
            f'"capabilities_prices":[{prices}],"hardware":[{hardware}]}}'
        )

    def netcaps(self, gw: Gateway, ts: int) -> str:
        """One snapshot: the next 6 orchestrators in turn, so every one is announced regularly."""
        n = len(self.orchs)
        picked = [self.orchs[(self.netcaps_cursor + k) % n] for k in range(min(6, n))]
        self.netcaps_cursor = (self.netcaps_cursor + 6) % n
        data = "[" + ",".join(self.orch_entry(o) for o in picked) + "]"
        return self.envelope(gw, self.event_id(), "network_capabilities", ts, data)

    # -- one session ------------------------------------------------------------------------
    def session(
        self, t0: int, max_lines: int | None = None
    ) -> tuple[str, list[tuple[int, str, str]]]:
        """All lines of one stream session as (arrival_ms, event_type, line), plus its scenario.

        With ``max_lines`` the session is shortened (fewer status/metrics samples) to fit.
        """
        rng = self.rng
        gw = rng.choices(self.gateways, GATEWAY_WEIGHTS)[0]
        model = rng.choice(MODELS)
        orch = rng.choice(self.by_model[model])
        if rng.random() < 0.2:  # the test streams of the Feb 2026 snapshots
            stream_id = f"aiJobTesterStream-{rng.randint(10**18, 10**19 - 1)}"
        else:
            stream_id = f"stream-{_b36(rng, 6)}-{_b36(rng, 8)}"
        request_id = f"{rng.getrandbits(32):08x}"
        mixed = rng.random() < P_MIXED_CASE_SESSION
        r = rng.random()
        scenario = (
            "no_orchestrator"
            if r < P_NO_ORCHESTRATOR
            else "swap"
            if r < P_NO_ORCHESTRATOR + P_SWAP
            else "ok"
        )
        duration = int(min(1_800_000, max(30_000, rng.lognormvariate(11.9, 0.6))))  # median ~150 s
        while True:
            state = rng.getstate()
            lines = self._session_lines(
                gw, model, orch, stream_id, request_id, mixed, scenario, t0, duration
            )
            if max_lines is None or len(lines) <= max_lines or duration <= 30_000:
                return scenario, lines
            rng.setstate(state)
            duration = max(30_000, duration // 2)

    def _session_lines(
        self,
        gw: Gateway,
        model: str,
        orch: Orchestrator,
        stream_id: str,
        request_id: str,
        mixed: bool,
        scenario: str,
        t0: int,
        duration: int,
    ) -> list[tuple[int, str, str]]:
        rng = self.rng
        out: list[tuple[int, str, str]] = []
        upgraded = gw.upgraded

        def emit(etype: str, ts: int, data: str) -> None:
            out.append(
                (ts + self.delay(), etype, self.envelope(gw, self.event_id(), etype, ts, data))
            )

        def addr(o: Orchestrator) -> str:
            return o.local if mixed else o.local_lc

        def trace(kind: str, ts: int, o: Orchestrator | None, runner: bool = False) -> None:
            a, u = (addr(o), o.uri) if o is not None else ("", "")
            if upgraded:
                data = (
                    f'{{"orchestrator_info":{{"address":"{a}","url":"{u}"}},"stream_id":"{stream_id}",'
                    f'"pipeline_id":"","type":"{kind}","request_id":"{request_id}","timestamp":{ts}}}'
                )
            else:
                data = (
                    f'{{"orchestrator_info":{{"address":"{a}","url":"{u}"}},"pipeline_id":"",'
                    f'"request_id":"{request_id}","stream_id":"{stream_id}","timestamp":{ts},"type":"{kind}"}}'
                )
            skew = rng.randint(10, 100) if runner else rng.randint(0, 2)
            emit("stream_trace", ts + skew, data)

        def swap(ts: int, o: Orchestrator) -> None:
            data = (
                f'{{"message":"orchestrator is slow","orchestrator_info":{{"address":"{addr(o)}",'
                f'"url":"{o.uri}"}},"pipeline":"{model}","pipeline_id":"","request_id":"{request_id}",'
                f'"stream_id":"{stream_id}","type":"orchestrator_swap"}}'
            )
            emit("stream_trace", ts, data)

        def stream_event(ts: int, message: str) -> None:
            data = (
                f'{{"capability":"","message":"{message}","pipeline":"{model}","pipeline_id":"",'
                f'"request_id":"{request_id}","stream_id":"{stream_id}","type":"error"}}'
            )
            emit("ai_stream_events", ts, data)

        session_id = f"{rng.getrandbits(32):08x}"
        manifest_id = f"35_{model}" if rng.random() < 0.5 else f"{rng.getrandbits(32):08x}"

        def payment(ts: int, o: Orchestrator, first: bool) -> None:
            req = request_id if first or rng.random() < 0.5 else ""
            data = (
                f'{{"capability":"","clientIP":"","faceValue":"2402400000000000 WEI",'
                f'"manifestID":"{manifest_id}","numTickets":"{rng.randint(1, 3)}","orchestrator":"{o.uri}",'
                f'"price":"{o.price}.021 wei/pixel","recipient":"{o.address}","requestID":"{req}",'
                f'"sender":"{gw.sender}","sessionID":"{session_id}","winProb":"0.0009990010"}}'
            )
            emit("create_new_payment", ts, data)

        # request, discovery
        trace("gateway_receive_stream_request", t0, None)
        known = [orch] + rng.sample(self.orchs, min(3, len(self.orchs)))[: rng.randint(0, 3)]
        disc = ",".join(
            f'{{"address":"{o.local_lc}","latency_ms":"{rng.randint(20, 250)}","url":"{o.uri}"}}'
            for o in known
        )
        emit("discovery_results", t0 + rng.randint(100, 400), f"[{disc}]")

        if scenario == "no_orchestrator":
            t_no = t0 + rng.randint(2, 3000)
            trace("gateway_no_orchestrators_available", t_no, None)
            stream_event(
                t_no,
                "no orchestrators available within 2s timeout"
                if rng.random() < 0.3
                else "no orchestrators available",
            )
            t_end = t_no + rng.randint(100, 3000)
            trace("gateway_ingest_stream_closed", t_end, None)
            stream_event(t_end, "mediamtx ingest disconnected")
            return out

        t_ingest = t0 + rng.randint(1500, 12_000)
        t_fp = t_ingest + rng.randint(500, 4000)
        t_end = max(t0 + duration, t_fp + 20_000)
        trace("gateway_send_first_ingest_segment", t_ingest, orch)
        trace("runner_receive_first_ingest_segment", t_ingest + rng.randint(200, 2500), orch, True)
        trace("runner_send_first_processed_segment", t_ingest + rng.randint(150, 2000), orch, True)
        trace("gateway_receive_first_processed_segment", t_fp, orch)
        trace("gateway_receive_few_processed_segments", t_fp + rng.randint(800, 4000), orch)

        # orchestrator swap: from t_swap on, samples come from the new one (or the stream ends)
        t_swap = None
        new_orch = None
        if scenario == "swap":
            t_swap = rng.randint(t_fp + 15_000, max(t_fp + 15_001, t_end - 10_000))
            swap(t_swap, orch)
            candidates = [o for o in self.by_model[model] if o is not orch]
            if candidates and rng.random() < 0.5:
                new_orch = rng.choice(candidates)
                trace(
                    "gateway_send_first_ingest_segment", t_swap + rng.randint(500, 3000), new_orch
                )
                trace(
                    "gateway_receive_first_processed_segment",
                    t_swap + rng.randint(3000, 6000),
                    new_orch,
                )
            else:
                t_no = t_swap + rng.randint(20, 2000)
                trace("gateway_no_orchestrators_available", t_no, None)
                stream_event(t_no, "no orchestrators available")
                t_end = t_no + rng.randint(5, 3000)

        def orch_at(ts: int) -> Orchestrator:
            return (
                new_orch if (t_swap is not None and new_orch is not None and ts >= t_swap) else orch
            )

        # payments
        payment(t0 + rng.randint(200, 900), orch, True)
        t = t0 + rng.randint(5000, 7000)
        while t < t_end:
            payment(t, orch_at(t), False)
            t += rng.randint(PAYMENT_INTERVAL_MS // 2, PAYMENT_INTERVAL_MS * 3 // 2)

        # ai_stream_status every ~10 s; the first sample is the 0-fps warm-up
        base_fps = rng.uniform(8.0, 26.0)
        params = '{"height":512,"width":512}' if rng.random() < 0.5 else "{}"
        params_hash = (
            "f2f41bce75e30de92f8c308a6722859b"
            if params != "{}"
            else "99914b932bd37a50b983c5e7c90ae93b"
        )
        has_error = rng.random() < 0.03
        restarts = orch.restart_count
        restart_time = t0 - rng.randint(60_000, 4 * 3_600_000) if restarts else None
        start_time = t0 + rng.randint(5, 80)
        t = start_time + STATUS_INTERVAL_MS + rng.randint(0, 30)
        last_state = start_time
        previous = start_time
        warm = True
        while t < t_end:
            o = orch_at(t)
            if warm:
                fps = 0.0
                in_fps = 0.0
                state = rng.choice(("LOADING", "LOADING", "DEGRADED_INPUT", "ONLINE"))
                warm = False
            else:
                if rng.random() < 0.05:
                    fps = base_fps * rng.uniform(0.2, 0.7)
                else:
                    fps = max(0.5, base_fps * (1.0 + rng.gauss(0.0, 0.08)))
                in_fps = fps if rng.random() < 0.5 else fps * rng.uniform(1.0, 1.15)
                state = "ONLINE" if fps > 0.6 * base_fps else "DEGRADED_INFERENCE"
            if state != "ONLINE" or rng.random() < 0.1:
                last_state = t - rng.randint(100, 2000)
            data_ts = t - rng.randint(0, 3)
            a = addr(o)
            last_output = t - rng.randint(10, 120)
            if upgraded:
                input_part = (
                    f'{{"last_input_time":{t - rng.randint(5, 60)},"fps":{in_fps}}}'
                    if in_fps
                    else '{"fps":0}'
                )
                data = (
                    f'{{"orchestrator_info":{{"address":"{a}","url":"{o.uri}"}},"inference_status":{{'
                    f'"restart_count":{restarts},"last_output_time":{last_output},'
                    + (f'"last_restart_time":{restart_time},' if restart_time else "")
                    + (
                        f'"last_error":"{LAST_ERROR}","last_error_time":{t0 - 60_000},'
                        if has_error
                        else ""
                    )
                    + f'"fps":{fps},"last_params_hash":"{params_hash}","last_params_update_time":{start_time},'
                    f'"last_params":{params}}},"input_status":{input_part},'
                    f'"last_status_timestamp":{previous},"type":"status","last_state_update_time":{last_state},'
                    f'"pipeline":"{model}","start_time":{start_time},"stream_id":"{stream_id}",'
                    f'"pipeline_id":"","state":"{state}","request_id":"{request_id}","timestamp":{data_ts}}}'
                )
            else:
                error = f'"{LAST_ERROR}"' if has_error else "null"
                error_time = t0 - 60_000 if has_error else "null"
                last_input = t - rng.randint(5, 60) if in_fps else "null"
                data = (
                    f'{{"inference_status":{{"fps":{fps},"last_error":{error},"last_error_time":{error_time},'
                    f'"last_output_time":{last_output},"last_params":{params},"last_params_hash":"{params_hash}",'
                    f'"last_params_update_time":{start_time},"last_restart_logs":null,'
                    f'"last_restart_time":{restart_time or "null"},"restart_count":{restarts}}},'
                    f'"input_status":{{"fps":{in_fps},"last_input_time":{last_input}}},'
                    f'"last_state_update_time":{last_state},"last_status_timestamp":{previous},'
                    f'"orchestrator_info":{{"address":"{a}","url":"{o.uri}"}},"pipeline":"{model}",'
                    f'"pipeline_id":"","request_id":"{request_id}","start_time":{start_time},'
                    f'"state":"{state}","stream_id":"{stream_id}","timestamp":{data_ts},"type":"status"}}'
                )
            emit("ai_stream_status", t, data)
            previous = data_ts
            t += STATUS_INTERVAL_MS + rng.randint(-5, 15)

        # stream_ingest_metrics every 5 s: cumulative counters of the peer connection
        t = t_ingest + rng.randint(2500, 5000)
        video_pps = rng.uniform(70.0, 90.0)
        audio_pps = rng.uniform(48.0, 52.0)
        byte_rate = rng.uniform(80.0, 110.0)  # bytes per ms
        lost_v = lost_a = 0
        audio_first = gw.audio_first
        quality_bad = rng.random() < 0.1
        while t < t_end:
            elapsed = (t - t_ingest) / 1000.0
            if rng.random() < 0.03:
                lost_v += rng.randint(1, 20)
            if rng.random() < 0.02:
                lost_a += rng.randint(1, 5)
            recv_v = int(video_pps * elapsed)
            recv_a = int(audio_pps * elapsed)
            loss_v = lost_v / (recv_v + lost_v) * 100 if lost_v else 0
            loss_a = lost_a / (recv_a + lost_a) * 100 if lost_a else 0
            video = (
                f'{{"type":"video","jitter":{rng.uniform(3.0, 30.0)},"packets_lost":{lost_v},'
                f'"packets_received":{recv_v},"packet_loss_pct":{loss_v},"rtt":0,'
                f'"last_input_ts":{round(elapsed - rng.uniform(0.05, 0.2), 3)},"last_output_ts":0,"latency":0}}'
            )
            audio = (
                f'{{"type":"audio","jitter":{rng.uniform(15.0, 25.0)},"packets_lost":{lost_a},'
                f'"packets_received":{recv_a},"packet_loss_pct":{loss_a},"rtt":0,'
                f'"last_input_ts":{round(elapsed - rng.uniform(0.05, 0.2), 4)},"last_output_ts":0,"latency":0}}'
            )
            tracks = f"{audio},{video}" if audio_first else f"{video},{audio}"
            quality = rng.choice(("fair", "poor")) if quality_bad and rng.random() < 0.5 else "good"
            data = (
                f'{{"pipeline_id":"","request_id":"{request_id}","stats":{{"peer_conn_stats":{{"ID":"iceTransport",'
                f'"BytesReceived":{int(byte_rate * (t - t_ingest))},"BytesSent":{int(0.7 * (t - t_ingest))}}},'
                f'"track_stats":[{tracks}],"conn_quality":"{quality}"}},"stream_id":"{stream_id}","timestamp":{t}}}'
            )
            emit("stream_ingest_metrics", t + rng.randint(0, 1), data)
            t += INGEST_INTERVAL_MS + rng.randint(0, 1)

        trace("gateway_ingest_stream_closed", t_end, None)
        stream_event(t_end, "mediamtx ingest disconnected")
        return out

    # -- delivery faults ---------------------------------------------------------------------
    def malformed(self, line: str, now_ms: int) -> str:
        """A broken line; any timestamp in it is the current time (a future one would move the
        watermark and make the following events late)."""
        rng = self.rng
        r = rng.random()
        if r < 0.5:
            return line[: rng.randint(10, max(11, len(line) - 10))]  # truncated JSON
        if r < 0.75:
            return rng.choice(GARBAGE)
        ts = now_ms - rng.randint(0, 2_000)
        return rng.choice(
            (
                "[]",
                "null",
                "{}",
                f'{{"id":"{self.uuid()}","type":"stream_trace","gateway":"","data":{{}}}}',
                f'{{"id":"{self.uuid()}","type":"stream_trace","timestamp":"not-a-time","gateway":"","data":{{}}}}',
                f'{{"id":"{self.uuid()}","type":"app_heartbeat","timestamp":"{ts}","gateway":"","data":{{}}}}',
                f'{{"id":"{self.uuid()}","type":"ai_stream_status","timestamp":"{ts}","gateway":""}}',
            )
        )

    def late_copy(self, etype: str, line: str, ts_shift: int) -> str:
        """The same kind of event, re-stamped 1-6 h in the past with a new id (a gateway that
        buffered while disconnected)."""
        event = json.loads(line)
        event["id"] = self.uuid()
        ts = int(event["timestamp"]) - ts_shift
        event["timestamp"] = str(ts) if isinstance(event["timestamp"], str) else ts
        return json.dumps(event, separators=(",", ":"))


def _b36(rng: random.Random, n: int) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(rng.choice(alphabet) for _ in range(n))


def _with_faults(
    world: _World, lines: list[tuple[int, str, str]], stats: Stats
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
    world = _World(seed, streams, start_ms)
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
                scenario, lines = world.session(when, max_lines=remaining * 9 // 10)
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
    path = Path(out_dir) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


def main(argv: list[str] | None = None) -> int:
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
