"""The tor_relays pipeline's source: staged Tor documents (jobs/tor/collect.py), read raw.

Declared for the runtime (jobs/contract.py ``Source``):

* prepare: the GeoIP databases must be installed (the message names the install command), the
  ``tor`` database migrated, and the input tree (``default_input``) collected into the staging
  directory, one JSON record per router entry / descriptor / measurement;
* register: the staged JSON-lines directory as a raw table and the views every record and
  reject is read from (``tor_records``, ``tor_rejects``);
* rejects: collector rejects and staged lines that are not records, as tor.dead_letter rows;
* watch: with NETPULSE_MONITOR_INTERVAL_S > 0, the collector re-scans the tree beside the job
  (the Flink source picks up new staged files); otherwise the run is bounded, in BATCH mode.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from jobs import flink_sql
from jobs.contract import Source
from jobs.settings import PROJECT_ROOT, Settings
from jobs.tor.collect import collect

NAME = "tor_relays"  # the pipeline and its one job
DEAD_LETTER_TABLE = "tor.dead_letter"
BUNDLED_INPUT = PROJECT_ROOT / "tests" / "fixtures" / "tor" / "collector"
RECORD_KINDS = ("status", "vote", "server", "extra", "bw")  # per relay; plus 'consensus' (per document)
RECORDS_VIEW = "tor_records"
REJECTS_VIEW = "tor_rejects"

log = logging.getLogger("netpulse.tor_relays")


def staging_dir(settings: Settings) -> Path:
    """Where the collector stages JSON lines for this job."""
    return settings.var_dir / "tor" / "staged"


def default_input(settings: Settings) -> Path:
    """The tree ``run tor_relays`` reads.

    NETPULSE_INPUT_PATH when it is set to somewhere other than its default (var/input, where the
    NaaP events go), else the bundled Tor documents.
    """
    if settings.input_path != (settings.var_dir / "input").resolve():
        return settings.input_path
    return BUNDLED_INPUT


def source_ddl(settings: Settings, path: Path, *, batch: bool = False) -> str:
    """The staged JSON-lines directory, read raw so that no line vanishes unseen.

    Streaming: event time is the consensus hour of router entries (``rt``; watermark = newest
    hour read). Consensus document records carry none: the collector stages them at the top of
    their file, before the entries of the file's earlier hours, so a valid-after of theirs
    would move the watermark past hours not yet read. A value that is not a number gives 0
    (TRY_CAST: a CAST error would fail the job; the line is dead-lettered by the decode check).
    Batch: no rowtime (BATCH mode fires a key's timers at the end of its input, in order).
    """
    monitor = (
        f",\n    'source.monitor-interval' = {flink_sql.literal(f'{settings.monitor_interval_s} s')}"
        if settings.monitor_interval_s > 0 and not batch
        else ""
    )
    rowtime = (
        ""
        if batch
        else """,
    rt AS TO_TIMESTAMP_LTZ(COALESCE(CASE WHEN JSON_VALUE(line, '$.kind') IN ('status', 'vote')
        THEN TRY_CAST(JSON_VALUE(line, '$.valid_after') AS BIGINT) * 1000 END, 0), 3),
    WATERMARK FOR rt AS rt"""
    )
    return f"""
CREATE TEMPORARY TABLE tor_staged (
    line STRING,
    source_position STRING NOT NULL METADATA FROM 'file.path' VIRTUAL,
    kind AS JSON_VALUE(line, '$.kind'){rowtime}
) WITH (
    'connector' = 'filesystem',
    'path' = {flink_sql.literal(str(path))},
    'format' = 'raw'{monitor}
)"""


_KINDS = ", ".join(f"'{k}'" for k in RECORD_KINDS)
_FINGERPRINT = "JSON_VALUE(line, '$.fingerprint')"

_CONSENSUS_OK = """(TRY_CAST(JSON_VALUE(line, '$.valid_after') AS BIGINT) IS NOT NULL
        AND TRY_CAST(JSON_VALUE(line, '$.fresh_until') AS BIGINT) IS NOT NULL)"""

# grain: one row per staged line that is a usable record, keyed by relay fingerprint (a
# consensus document record by 'consensus:<valid-after>': it only passes through the keyed
# operator, which copies it to the hours whose metrics need it)
RECORDS = f"""
SELECT kind, CASE WHEN kind = 'consensus' THEN CONCAT('consensus:', JSON_VALUE(line, '$.valid_after'))
    ELSE {_FINGERPRINT} END AS fingerprint, line
FROM tor_staged
WHERE line IS JSON OBJECT AND (
    (kind IN ({_KINDS}) AND REGEXP({_FINGERPRINT}, '^[0-9A-F]{{40}}$'))
    OR (kind = 'consensus' AND {_CONSENSUS_OK}))
"""

# grain: one row per reject found by the collector (already dead-letter shaped)
COLLECTOR_REJECTS = f"""
SELECT '{DEAD_LETTER_TABLE}' AS target, JSON_OBJECT(
    'reject_key' VALUE JSON_VALUE(line, '$.reject_key'),
    'job' VALUE '{NAME}',
    'stage' VALUE JSON_VALUE(line, '$.stage'),
    'document' VALUE JSON_VALUE(line, '$.document'),
    'doc_type' VALUE JSON_VALUE(line, '$.doc_type'),
    'line' VALUE COALESCE(TRY_CAST(JSON_VALUE(line, '$.line') AS INT), 0),
    'reason' VALUE JSON_VALUE(line, '$.reason'),
    'detail' VALUE COALESCE(JSON_VALUE(line, '$.detail'), ''),
    'excerpt' VALUE COALESCE(JSON_VALUE(line, '$.excerpt'), '')
) AS row_json
FROM tor_staged
WHERE line IS JSON OBJECT AND kind = 'reject'
"""

_DECODE_REASON = f"""CASE
    WHEN NOT (line IS JSON OBJECT) THEN 'malformed_json'
    WHEN kind IS NULL OR kind NOT IN ({_KINDS}, 'reject', 'consensus') THEN 'unknown_kind'
    WHEN kind = 'consensus' AND NOT {_CONSENSUS_OK} THEN 'bad_consensus_record'
    WHEN kind NOT IN ('reject', 'consensus')
        AND NOT COALESCE(REGEXP({_FINGERPRINT}, '^[0-9A-F]{{40}}$'), FALSE)
        THEN 'bad_fingerprint'
END"""

# grain: one row per staged line that is neither a record nor a collector reject
DECODE_REJECTS = f"""
SELECT '{DEAD_LETTER_TABLE}' AS target, JSON_OBJECT(
    'reject_key' VALUE SHA256(CONCAT_WS('|', 'decode', source_position, reason, line)),
    'job' VALUE '{NAME}',
    'stage' VALUE 'decode',
    'document' VALUE source_position,
    'doc_type' VALUE 'staged-jsonl',
    'line' VALUE 0,
    'reason' VALUE reason,
    'detail' VALUE 'a staged line must be a JSON record written by jobs/tor/collect.py',
    'excerpt' VALUE SUBSTRING(line, 1, 4096)
) AS row_json
FROM (SELECT line, source_position, {_DECODE_REASON} AS reason FROM tor_staged)
WHERE reason IS NOT NULL
"""


def watch(settings: Settings, input_dir: Path, stop: threading.Event, interval_s: float | None = None) -> None:
    """Stage ``input_dir`` for the job every interval until ``stop`` is set.

    The collector (stem, in Python) runs beside the Flink job: as a thread of ``run`` in a
    local watched run, or as its own process (``python -m jobs tor-collect DIR --watch``) next
    to a job submitted to a cluster, whose client process exits after the submission. Staged
    files are written under a hidden name and renamed, so the job's monitored source picks up
    each new hour once.
    """
    staged = staging_dir(settings)
    interval = interval_s if interval_s is not None else max(settings.monitor_interval_s, 1)
    while not stop.wait(interval):
        try:
            stats = collect(input_dir, staged)
            log.info("collected %s", stats)
        except Exception:  # noqa: BLE001 - keep watching; the next pass retries
            log.exception("collecting %s failed", input_dir)


def register(env: Any, t_env: Any, settings: Settings) -> None:
    """The staged directory as a raw table, and the records and rejects views (no I/O)."""
    t_env.execute_sql(source_ddl(settings, staging_dir(settings), batch=settings.is_batch))
    flink_sql.view(t_env, RECORDS_VIEW, RECORDS)
    flink_sql.view(t_env, REJECTS_VIEW, f"{COLLECTOR_REJECTS} UNION ALL {DECODE_REJECTS}")


def rejects(settings: Settings, pipeline: str) -> str:
    """SQL of the source's dead-letter rows (target, row_json)."""
    return f"SELECT target, row_json FROM {REJECTS_VIEW}"


def prepare(settings: Settings) -> None:
    """Check the GeoIP databases, migrate the ``tor`` database, collect the input tree.

    Raises:
        FileNotFoundError: the input tree or the GeoIP databases are missing (the message
            names the install command).
    """
    from jobs.ops import migrate
    from udfs.tor_geoip import GeoIP

    # settings.geoip_dir is absolute: a job submitted from a release copy (var/releases/) reads
    # the databases installed in the checkout, not a data/ folder the release does not have.
    GeoIP(settings.geoip_dir).close()  # fail before starting Flink, naming the install command
    migrate.migrate(settings, databases=("tor",))
    stats = collect(default_input(settings), staging_dir(settings))
    log.info("collected %s", stats)


def bounded(settings: Settings) -> bool:
    """The staged files are bounded unless the collector watches the tree."""
    return settings.monitor_interval_s <= 0


def watch_input(settings: Settings, stop: threading.Event) -> None:
    """``watch`` over the input tree of ``settings`` (the runtime's watch thread)."""
    watch(settings, default_input(settings), stop)


SOURCE = Source(
    name="tor_staged",
    register=register,
    rejects=rejects,
    prepare=prepare,
    bounded=bounded,
    watch=watch_input,
    staged_load=False,
)
