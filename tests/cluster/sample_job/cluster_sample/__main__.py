"""``python -m cluster_sample run <job_name> <out_dir> [v1|v2]``.

Reads: datagen, a sequence 1..N at a fixed rate (its position lives in checkpointed state).
Computes: a Python UDF tags each number (v2 also filters, which changes the operator ids).
Writes: JSON lines to <out_dir>, part files committed on checkpoint (exactly once).
"""

from __future__ import annotations

import sys

from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
from pyflink.table.udf import udf

from cluster_sample.tagging import tag

SOURCE = """
CREATE TABLE seq_source (
    seq BIGINT
) WITH (
    'connector' = 'datagen',
    'rows-per-second' = '50',
    'fields.seq.kind' = 'sequence',
    'fields.seq.start' = '1',
    'fields.seq.end' = '20000'
)
"""

SINK = """
CREATE TABLE seq_sink (
    seq BIGINT,
    bucket STRING
) WITH (
    'connector' = 'filesystem',
    'path' = '{out_dir}',
    'format' = 'json',
    -- Row formats roll by policy, not on every checkpoint: roll often so that each
    -- checkpoint commits what was written.
    'sink.rolling-policy.rollover-interval' = '1 s',
    'sink.rolling-policy.check-interval' = '1 s'
)
"""


@udf(result_type=DataTypes.STRING())
def bucket(seq: int) -> str:
    return tag(seq)


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[0] != "run":
        raise SystemExit("usage: python -m cluster_sample run <job_name> <out_dir> [v1|v2]")
    job_name, out_dir = argv[1], argv[2]
    variant = argv[3] if len(argv) > 3 else "v1"
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = t_env.get_config()
    config.set("pipeline.name", job_name)
    config.set("execution.checkpointing.interval", "2 s")
    t_env.create_temporary_function("bucket", bucket)
    t_env.execute_sql(SOURCE)
    t_env.execute_sql(SINK.format(out_dir=out_dir))
    where = "WHERE seq > 0" if variant == "v2" else ""
    t_env.execute_sql(f"INSERT INTO seq_sink SELECT seq, bucket(seq) FROM seq_source {where}")


if __name__ == "__main__":
    main(sys.argv[1:])
