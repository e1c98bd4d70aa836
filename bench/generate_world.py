"""The generator's world: orchestrators, gateways, the event mix and the per-line builders.

Every random choice goes through the world's one seeded RNG, so the same seed gives the same
lines (see bench/generate.py).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field

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
    """One orchestrator node: addresses, URI, models, GPUs, price and versions."""

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
    """One gateway: its name, whether it sends upgraded envelopes, its payment sender."""

    name: str
    upgraded: bool
    sender: str
    audio_first: bool


@dataclass
class Stats:
    """What a generation wrote: lines, bytes, event types, faults and session scenarios."""

    lines: int = 0
    bytes: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    extras: Counter[str] = field(default_factory=Counter)
    sessions: Counter[str] = field(default_factory=Counter)
    first_ms: int = 0
    last_ms: int = 0


class World:
    """Entities and per-line builders; every random choice goes through one seeded RNG."""

    def __init__(self, seed: int, streams: int, start_ms: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - seeded for reproducible data, not secrets
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


    # -- delivery faults ---------------------------------------------------------------------
    def malformed(self, line: str, now_ms: int) -> str:
        """A broken line.

        Any timestamp in it is the current time (a future one would move the watermark and make
        the following events late).
        """
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
        """The same kind of event, re-stamped 1-6 h in the past with a new id.

        As a gateway sends it that buffered while disconnected.
        """
        event = json.loads(line)
        event["id"] = self.uuid()
        ts = int(event["timestamp"]) - ts_shift
        event["timestamp"] = str(ts) if isinstance(event["timestamp"], str) else ts
        return json.dumps(event, separators=(",", ":"))



def b36(rng: random.Random, n: int) -> str:
    """``n`` random base-36 characters (stream id parts)."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(rng.choice(alphabet) for _ in range(n))
