"""One frozen settings object for every job, read from NETPULSE_* environment variables.

Bad values fail loudly at start-up, naming the variable, the value and what is expected, so a
mistyped deployment never runs half-configured.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A NETPULSE_* variable holds a value the jobs cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything a job reads from its environment.

    Attributes:
        var_dir: root of local state (embedded ClickHouse, Parquet, input, checkpoints).
        clickhouse_url: ``chdb:///abs/dir`` (embedded engine) or ``http(s)://host:port``.
        clickhouse_user / clickhouse_password: credentials for a server (ignored by chdb).
        source: ``files`` (a directory of JSON-lines files) or ``kafka``.
        input_path: the directory read by the ``files`` source.
        monitor_interval_s: 0 = read the directory once (bounded job); >0 = keep watching it.
        kafka_*: the ``kafka`` source (production wiring). ``kafka_bounded_mode``
            (``scan.bounded.mode``): ``unbounded`` in production; ``latest-offset`` stops at the
            offsets that were the end of each partition when the job started (demo, tests).
            ``kafka_idle_timeout_s``: a partition without records for this long stops holding
            back event time (a partition that receives nothing would stall every window); keep
            it above the pauses after which a backlog may arrive (docs/operations.md); 0 = off.
        parquet_url: a local directory or ``s3://bucket/prefix``.
        s3_*: endpoint and credentials for ``s3://`` URLs: the Parquet output and the Flink
            checkpoint and savepoint directories (path-style requests whenever an endpoint is
            set: MinIO, SeaweedFS).
        flink_checkpoint_dir / flink_savepoint_dir: where the Flink cluster keeps checkpoints and
            savepoints. Empty (default): ``file://`` under ``var_dir``; ``s3://bucket/prefix``
            in production (rendered into the cluster's config.yaml with the ``s3_*`` settings;
            the S3 filesystem plugin of jars.lock is installed into the cluster's plugins/).
        geoip_dir: the offline GeoIP databases of the Tor job (``python -m jobs.tor.geoip_install
            install``); an absolute path, so a job submitted from a release copy finds them.
        allowed_lateness_s: the watermark delay; an event older than the watermark is ``late``.
        batch_interval_s: event-time width of one sink batch of the event tables (one ClickHouse
            insert per table and batch: ClickHouse wants few, large inserts).
        metrics_batch_interval_s: the same for calculated_metrics. It divides the 5-minute jitter
            windows, so a window's rows land in the batch that closes with the same watermark (no
            added latency); latency rows already wait out the trace session gap (600 s), which
            60 s batches lengthen by at most 10%. 5 s batches made a backfill of 4 hours of
            events write ~3,000 tiny inserts and Parquet files (~35 s of the 1M-event run).
        dedup_window_s: event-time window in which repeated deliveries of an event are folded.
        max_event_bytes: envelopes longer in bytes of UTF-8 are rejected (``payload_too_large``).
        max_future_skew_s: envelopes stamped further ahead of the clock are rejected
            (``timestamp_in_future``) so that one fast gateway clock cannot drag the watermark.
        dlq_payload_cap_chars: dead-letter payloads are cut to this many characters, the cut is recorded.
        parallelism: default operator parallelism; 0 (default) = automatic: every core (at most
            4) for a bounded run in BATCH mode, whose stages run one after another, and 1 for
            STREAMING, whose operators already run side by side.
        writer_parallelism: parallel sink writers (1 for the embedded engine: one process per path).
        source_idle_timeout_s: 0 (default) = off; >0: job-wide source idleness
            (``table.exec.source.idle-timeout``). Off by default: after a pause longer than it,
            rows can be dead-lettered as late or dropped in windows (docs/operations.md, "Idle
            sources and lost rows"); a file reader without splits is idle anyway. The Kafka
            source has its own per-partition timeout, ``kafka_idle_timeout_s``.
        state_ttl_s: STREAMING only: how long per-key state that no window closes is kept after
            its key's last row, in processing time (``table.exec.state.ttl``; default 86400 =
            one day; 0 = forever). It bounds the per-stream warm-up flag and the per-request
            running values (OVER aggregates) and the per-line copy counts of a watched
            directory's rejects: a stream silent for longer starts over (its next 0-fps samples
            count as warm-up). Kept for between 1 and 1.5 times this (Flink's cleanup timers).
            Windows, sessions and deduplication are bounded by event time and ignore it
            (ARCHITECTURE.md, "State").
        retention_days: 0 keeps rows forever; >0 deletes rows N days after the later of their
            event and ingestion dates (docs/retention.md).
        jitter_min_samples: a jitter window with fewer non-warm-up samples yields no value.
        trace_session_gap_s: a request's trace edges further apart than this start a new session.
        token_salt: prefix of the insert deduplication tokens (a replay in replace mode sets
            its own, so re-inserted rows are not mistaken for the ones it deleted).
        runtime_mode: ``auto`` (default), ``batch`` or ``streaming``. Auto runs a bounded input
            (a files source without monitoring) in Flink's BATCH mode, where windows, sessions,
            deduplication and OVER aggregates see the whole input whatever the order in which
            files are read (no watermark, nothing is late); unbounded inputs (Kafka, a watched
            directory) run in STREAMING mode.
        progress_interval_s: seconds between the progress lines a job run prints to stderr
            (events read and their rate, rows written, rejects: Flink's own metrics, read
            from the REST API of the local MiniCluster); 0 = off (``NETPULSE_PROGRESS_INTERVAL_S``,
            default 5). Only a run that waits for its job prints them (not ``submit``).
        fault_file: drill switch (``NETPULSE_FAULT_FILE``, off when empty): while a file exists
            at this path, every ClickHouse insert fails as if the server were unreachable
            (docs/operations.md, "Sink outage drill").
    """

    var_dir: Path = PROJECT_ROOT / "var"
    clickhouse_url: str = ""
    clickhouse_user: str = "default"
    clickhouse_password: str = ""
    source: str = "files"
    input_path: Path = PROJECT_ROOT / "var" / "input"
    monitor_interval_s: int = 0
    kafka_bootstrap: str = "kafka:9092"
    kafka_topic: str = "streaming-events"
    kafka_group_id: str = "netpulse-naap"
    kafka_start: str = "group-offsets"
    kafka_bounded_mode: str = "unbounded"
    kafka_idle_timeout_s: int = 300
    parquet_url: str = ""
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    flink_checkpoint_dir: str = ""
    flink_savepoint_dir: str = ""
    geoip_dir: Path = PROJECT_ROOT / "data" / "geoip"
    allowed_lateness_s: int = 120
    batch_interval_s: int = 60
    metrics_batch_interval_s: int = 60
    dedup_window_s: int = 5
    max_event_bytes: int = 1_048_576
    max_future_skew_s: int = 300
    dlq_payload_cap_chars: int = 65_536
    parallelism: int = 0
    writer_parallelism: int = 1
    source_idle_timeout_s: int = 0
    state_ttl_s: int = 86_400
    retention_days: int = 0
    jitter_min_samples: int = 2
    trace_session_gap_s: int = 600
    token_salt: str = ""
    fault_file: str = ""
    runtime_mode: str = "auto"
    progress_interval_s: int = 5
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_embedded(self) -> bool:
        """True when ClickHouse is the in-process chDB engine."""
        return self.clickhouse_url.startswith("chdb://")

    @property
    def is_batch(self) -> bool:
        """True when the job runs in Flink's BATCH mode (see ``runtime_mode``)."""
        if self.runtime_mode == "auto":
            return self.source == "files" and self.monitor_interval_s == 0
        return self.runtime_mode == "batch"

    @property
    def chdb_path(self) -> Path:
        """The directory of the embedded database (only meaningful when embedded)."""
        return Path(self.clickhouse_url.removeprefix("chdb://"))

    @property
    def effective_parallelism(self) -> int:
        """The operator parallelism a job runs with (see ``parallelism``)."""
        if self.parallelism > 0:
            return self.parallelism
        return min(os.cpu_count() or 1, 4) if self.is_batch else 1

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed (tests and the CLI use this)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


# Live streams report every few seconds; a state TTL shorter than this forgets live streams.
MIN_STATE_TTL_S = 60

_INT_FIELDS = {
    "monitor_interval_s": 0,
    "allowed_lateness_s": 0,
    "batch_interval_s": 1,
    "metrics_batch_interval_s": 1,
    "dedup_window_s": 1,
    "max_event_bytes": 1024,
    "max_future_skew_s": 0,
    "dlq_payload_cap_chars": 256,
    "parallelism": 0,
    "writer_parallelism": 1,
    "source_idle_timeout_s": 0,
    "state_ttl_s": 0,
    "kafka_idle_timeout_s": 0,
    "retention_days": 0,
    "jitter_min_samples": 2,
    "trace_session_gap_s": 1,
    "progress_interval_s": 0,
}
_CHOICES = {
    "source": ("files", "kafka"),
    "kafka_start": ("group-offsets", "earliest-offset", "latest-offset"),
    "runtime_mode": ("auto", "batch", "streaming"),
    "kafka_bounded_mode": ("unbounded", "latest-offset", "group-offsets"),
}


# Tooling variables, read per call rather than frozen in Settings: they say where a Flink
# distribution and a JobManager are, which the cluster tooling (jobs/ops/, jobs/connectors/kafka.py)
# needs before, and apart from, any job's settings.
FLINK_HOME_VAR = "NETPULSE_FLINK_HOME"
FLINK_REST_URL_VAR = "NETPULSE_FLINK_REST_URL"


def flink_home_override(env: Mapping[str, str] | None = None) -> str:
    """``NETPULSE_FLINK_HOME``: a Flink distribution to use instead of the wheel's ('' = none)."""
    return (os.environ if env is None else env).get(FLINK_HOME_VAR, "")


def flink_rest_url(env: Mapping[str, str] | None = None) -> str:
    """``NETPULSE_FLINK_REST_URL``: the JobManager REST API ('' = the local default)."""
    return (os.environ if env is None else env).get(FLINK_REST_URL_VAR, "")


def _parse_int(name: str, raw: str, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(
            f"NETPULSE_{name.upper()}={raw!r} is not a whole number; set it to an integer >= {minimum}"
        ) from None
    if value < minimum:
        raise SettingsError(f"NETPULSE_{name.upper()}={value} is below {minimum}; raise it")
    return value


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default: ``os.environ``) and validate them.

    Raises:
        SettingsError: naming the variable and the expected value.
    """
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    var_dir = Path(env.get("NETPULSE_VAR_DIR", str(PROJECT_ROOT / "var"))).resolve()
    values["var_dir"] = var_dir
    values["input_path"] = Path(env.get("NETPULSE_INPUT_PATH", str(var_dir / "input"))).resolve()
    values["clickhouse_url"] = env.get("NETPULSE_CLICKHOUSE_URL", f"chdb://{var_dir / 'clickhouse'}")
    values["parquet_url"] = env.get("NETPULSE_PARQUET_URL", str(var_dir / "parquet"))
    if "NETPULSE_GEOIP_DIR" in env:
        values["geoip_dir"] = Path(env["NETPULSE_GEOIP_DIR"]).resolve()
    for name in (
        "clickhouse_user",
        "clickhouse_password",
        "kafka_bootstrap",
        "kafka_topic",
        "kafka_group_id",
        "s3_endpoint",
        "s3_access_key",
        "s3_secret_key",
        "s3_region",
        "flink_checkpoint_dir",
        "flink_savepoint_dir",
        "source",
        "kafka_start",
        "kafka_bounded_mode",
        "fault_file",
        "runtime_mode",
    ):
        key = f"NETPULSE_{name.upper()}"
        if key in env:
            values[name] = env[key]
    for name, minimum in _INT_FIELDS.items():
        key = f"NETPULSE_{name.upper()}"
        if key in env:
            values[name] = _parse_int(name, env[key], minimum)
    for name, choices in _CHOICES.items():
        value = values.get(name, getattr(Settings, name))
        if value not in choices:
            raise SettingsError(f"NETPULSE_{name.upper()}={value!r}: expected one of {choices}")
    url = str(values["clickhouse_url"])
    if not url.startswith(("chdb://", "http://", "https://")):
        raise SettingsError(
            f"NETPULSE_CLICKHOUSE_URL={url!r}: expected chdb:///abs/dir or http(s)://host:port"
        )
    if url.startswith("chdb://") and not url.removeprefix("chdb://").startswith("/"):
        raise SettingsError(f"NETPULSE_CLICKHOUSE_URL={url!r}: the chdb path must be absolute")
    parquet = str(values["parquet_url"])
    if parquet.startswith("s3://") and not env.get("NETPULSE_S3_ENDPOINT"):
        raise SettingsError("NETPULSE_PARQUET_URL is s3:// but NETPULSE_S3_ENDPOINT is not set")
    for name in ("flink_checkpoint_dir", "flink_savepoint_dir"):
        state_url = str(values.get(name, ""))
        if state_url and not state_url.startswith(("file:///", "s3://")):
            raise SettingsError(
                f"NETPULSE_{name.upper()}={state_url!r}: expected s3://bucket/prefix or "
                "file:///abs/dir (or leave it empty for var/)"
            )
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.runtime_mode == "batch" and (settings.source != "files" or settings.monitor_interval_s > 0):
        raise SettingsError(
            "NETPULSE_RUNTIME_MODE=batch needs a bounded input: NETPULSE_SOURCE=files and "
            "NETPULSE_MONITOR_INTERVAL_S=0 (or leave it at auto)"
        )
    if settings.is_embedded and settings.writer_parallelism != 1:
        raise SettingsError(
            "NETPULSE_WRITER_PARALLELISM must be 1 with the embedded engine "
            "(chDB allows one process per database directory)"
        )
    if 0 < settings.state_ttl_s < MIN_STATE_TTL_S:
        raise SettingsError(
            f"NETPULSE_STATE_TTL_S={settings.state_ttl_s}: below {MIN_STATE_TTL_S} s a live stream's "
            "state would expire between its status samples; use 0 (forever) or a value of hours"
        )
    return settings
