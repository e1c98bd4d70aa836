"""A Flink job on the local MiniCluster whose checkpoints and savepoints live on an S3 server.

Usage: ``python tests/integration/s3_state_run.py WORK_DIR`` with the ``NETPULSE_*`` settings of
the S3 server (endpoint, credentials, ``NETPULSE_FLINK_CHECKPOINT_DIR`` and
``NETPULSE_FLINK_SAVEPOINT_DIR`` = s3://). Prints ``RESULT <json>``.

Run in a process of its own: Flink finds the S3 filesystem plugin in ``FLINK_PLUGINS_DIR``
(``jobs.ops.flink_conf.ensure_plugins``: the locked jar), read from the environment of the JVM that
PyFlink starts, and PyFlink keeps that variable only when ``FLINK_HOME`` is set too; the
MiniCluster does not load plugins by itself (``init_filesystems``). The job is Java only (datagen
sequence 1..N at a fixed rate -> JSON files committed on checkpoint, exactly once): it runs
until a checkpoint is on S3, is stopped with a savepoint on S3, and a second job restored from
that savepoint runs the sequence to its end. The committed rows must be exactly 1..N, what one
uninterrupted run writes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from jobs import settings
from jobs.ops import flink_conf, flink_dist, savepoints

ROWS = 500
SOURCE = f"""
CREATE TEMPORARY TABLE seq_source (seq BIGINT) WITH (
    'connector' = 'datagen',
    'rows-per-second' = '50',
    'fields.seq.kind' = 'sequence',
    'fields.seq.start' = '1',
    'fields.seq.end' = '{ROWS}'
)"""
SINK = """
CREATE TEMPORARY TABLE seq_sink (seq BIGINT) WITH (
    'connector' = 'filesystem',
    'path' = '{out}',
    'format' = 'json',
    'sink.rolling-policy.rollover-interval' = '1 s',
    'sink.rolling-policy.check-interval' = '1 s'
)"""


def committed(out: Path) -> list[int]:
    """Sequence numbers in committed part files (in-progress files start with a dot)."""
    return [
        json.loads(line)["seq"]
        for part in sorted(out.rglob("part-*"))
        for line in part.read_text().splitlines()
    ]


def init_filesystems(s: settings.Settings) -> None:
    """Load Flink's filesystems with the plugins of ``FLINK_PLUGINS_DIR`` and the S3 keys.

    A cluster process does this when it starts (with its config.yaml); the MiniCluster that
    PyFlink runs in its gateway JVM does not, so without it ``s3://`` has no filesystem here.
    """
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    conf = jvm.org.apache.flink.configuration.Configuration()
    for key, value in flink_conf.state_overrides(s).items():
        conf.setString(key, str(value).lower() if isinstance(value, bool) else str(value))
    plugins = jvm.org.apache.flink.core.plugin.PluginUtils.createPluginManagerFromRootFolder(conf)
    jvm.org.apache.flink.core.fs.FileSystem.initialize(conf, plugins)


def table_env(s: settings.Settings, restore: str | None) -> object:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = t_env.get_config()
    for key, value in flink_conf.state_overrides(s).items():
        config.set(key, str(value).lower() if isinstance(value, bool) else str(value))
    config.set("execution.checkpointing.interval", "500 ms")
    config.set("pipeline.name", "s3-state")
    if restore:
        config.set("execution.state-recovery.path", restore)
    return t_env


def main(work: Path) -> dict[str, object]:
    s = settings.load()
    plugins = flink_conf.ensure_plugins(s)
    os.environ["FLINK_PLUGINS_DIR"] = str(plugins)
    os.environ["FLINK_HOME"] = str(flink_dist.flink_home())  # else PyFlink resets the plugins dir
    out = work / "out"
    result: dict[str, object] = {}
    started = time.monotonic()
    t_env = table_env(s, None)
    init_filesystems(s)
    t_env.execute_sql(SOURCE)
    t_env.execute_sql(SINK.format(out=out))
    client = t_env.execute_sql("INSERT INTO seq_sink SELECT seq FROM seq_source").get_job_client()
    job_id = str(client.get_job_id())
    checkpoints = f"{s.flink_checkpoint_dir}/{job_id}"
    deadline = time.monotonic() + 120
    # Stop once a checkpoint is on S3 and has committed rows (the first checkpoint can complete
    # before the source emitted anything, on a loaded machine: then the stop would test nothing).
    while not (
        committed(out) and any(k.endswith("/_metadata") for k, _ in savepoints.s3_objects(checkpoints, s))
    ):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no completed checkpoint with committed rows under {checkpoints} after 120 s")
        time.sleep(0.3)
    result["checkpoint_objects"] = len(savepoints.s3_objects(checkpoints, s))
    # PyFlink 2.3's JobClient.stop_with_savepoint calls a Java signature that no longer exists
    # (2.x takes a SavepointFormatType): call the Java client directly.
    from pyflink.java_gateway import get_gateway

    canonical = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
    savepoint = str(
        client._j_job_client.stopWithSavepoint(False, s.flink_savepoint_dir, canonical).get()  # noqa: SLF001
    )
    result["savepoint"] = savepoint
    result["savepoint_objects"] = len(savepoints.s3_objects(savepoint, s))
    result["rows_at_stop"] = len(committed(out))
    t_env = table_env(s, savepoint)
    t_env.execute_sql(SOURCE)
    t_env.execute_sql(SINK.format(out=out))
    t_env.execute_sql("INSERT INTO seq_sink SELECT seq FROM seq_source").wait()
    seqs = committed(out)
    result["rows"] = len(seqs)
    result["distinct"] = len(set(seqs))
    result["exactly_1_to_n"] = sorted(seqs) == list(range(1, ROWS + 1))
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(Path(sys.argv[1]).resolve())), flush=True)
