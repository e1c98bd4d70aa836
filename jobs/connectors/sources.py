"""Source tables: where connector options live (jobs never hold connector options).

Both sources expose the same schema, so the parsing in ``jobs.naap.envelopes`` is shared:

    line             STRING          the raw record (one JSON envelope, or garbage)
    source_position  STRING          file path, or ``topic/partition/offset``
    envelope_ms      BIGINT          envelope ``timestamp`` (string or number), NULL if unusable
    ts               TIMESTAMP_LTZ   event time; in STREAMING mode with the watermark
                                     ``ts - allowed lateness`` (BATCH mode has none)
    pt               TIMESTAMP_LTZ   processing time (files in STREAMING mode only): the order
                                     in which identical rejected lines of one file are counted
                                     (jobs/naap/envelopes.py, ``line_copy``)

Lines are read raw (``format raw``) rather than with Flink's ``json`` format: that format drops
a line that is not JSON without a trace, and every reject must reach the dead-letter table.
"""

from __future__ import annotations

from jobs import flink_sql
from jobs.settings import Settings

SOURCE_TABLE = "gateway_source"

# Timestamps before 2000-01-01 or more than NETPULSE_MAX_FUTURE_SKEW_S ahead of the clock are
# rejected, and never become event time: one event from a gateway whose clock runs an hour
# fast would move the watermark an hour ahead and make every other gateway's events late.
MIN_EVENT_MS = 946_684_800_000
# The envelope timestamp (number or numeric string) by a streaming scan in Java
# (java/netpulse/udfs/EnvelopeTime.java; registered by jobs.ops.java_udfs before this DDL).
_ENVELOPE_MS = "envelope_time_ms(line)"


def future_limit_ms(settings: Settings) -> str:
    """SQL: the largest acceptable envelope time (processing time + allowed clock skew)."""
    return f"UNIX_TIMESTAMP() * 1000 + {settings.max_future_skew_s * 1000}"


def counts_line_copies(settings: Settings) -> bool:
    """True when identical lines of one source position need counting (files in STREAMING mode).

    A file's position is its path, the same for every line of it; Flink's file source exposes
    no line offset. Identical rejected lines of one file are told apart by their copy number
    (jobs/naap/envelopes.py): in BATCH mode by ROW_NUMBER over the whole input, in STREAMING mode by
    a running count in processing-time order, which is the file's line order (one reader per
    file), so a replay from a checkpoint counts the same. Kafka positions carry the offset.
    """
    return settings.source != "kafka"


def _columns(settings: Settings, position_column: str) -> str:
    plausible = (
        f"CASE WHEN {_ENVELOPE_MS} BETWEEN {MIN_EVENT_MS} AND {future_limit_ms(settings)} "
        f"THEN {_ENVELOPE_MS} ELSE 0 END"
    )
    # BATCH mode has no watermark: it sorts and sees the whole input, nothing is late.
    lateness = flink_sql.seconds(settings.allowed_lateness_s)
    watermark = "" if settings.is_batch else f",\n    WATERMARK FOR ts AS ts - {lateness}"
    proctime = ",\n    pt AS PROCTIME()" if counts_line_copies(settings) and not settings.is_batch else ""
    return f"""
    line STRING,
    {position_column},
    envelope_ms AS {_ENVELOPE_MS},
    ts AS TO_TIMESTAMP_LTZ({plausible}, 3){proctime}{watermark}"""


def files_source_ddl(settings: Settings, table: str = SOURCE_TABLE) -> str:
    """A directory of JSON-lines files (local runs, tests, replays).

    With ``monitor_interval_s`` > 0 the source is unbounded and picks up files published into
    the directory (write ``.name`` then rename: names starting with ``.`` or ``_`` are skipped).
    """
    options = {
        "connector": "filesystem",
        "path": str(settings.input_path),
        "format": "raw",
    }
    if settings.monitor_interval_s > 0:
        options["source.monitor-interval"] = f"{settings.monitor_interval_s} s"
    columns = _columns(settings, "source_position STRING NOT NULL METADATA FROM 'file.path' VIRTUAL")
    return f"CREATE TEMPORARY TABLE {table} ({columns}\n) WITH ({_with(options)})"


def kafka_source_ddl(settings: Settings, table: str = SOURCE_TABLE) -> str:
    """The production source: the gateways' Kafka topic, one envelope per record value.

    Options and metadata columns come from jobs/connectors/kafka.py (the connector version is pinned
    there and fetched by the Flink image build); the computed columns are the same as for files.
    """
    from jobs.connectors import kafka

    metadata = ",\n    ".join(c for c in kafka.KAFKA_SOURCE_COLUMNS if not c.startswith("line "))
    columns = _columns(settings, metadata)
    return f"CREATE TEMPORARY TABLE {table} ({columns}\n) WITH ({_with(kafka.source_options(settings))})"


def source_ddl(settings: Settings, table: str = SOURCE_TABLE) -> str:
    """The DDL of the source selected by ``NETPULSE_SOURCE``."""
    if settings.source == "kafka":
        return kafka_source_ddl(settings, table)
    return files_source_ddl(settings, table)


def _with(options: dict[str, str]) -> str:
    return flink_sql.with_options(options)
