"""The NaaP pipelines' source: gateway events from files or Kafka, parsed and checked once.

Declared for the runtime (jobs/contract.py ``Source``): the source table (jobs/connectors/sources.py,
jobs/connectors/kafka.py), the Java parse functions it uses (jobs/ops/java_udfs.py) and the shared views
``gateway_events`` / ``source_rejects`` (jobs/naap/envelopes.py); its rejects become naap.dead_letter
rows by the one SQL recipe (``envelopes.dead_letter_row``).
"""

from __future__ import annotations

from typing import Any

from jobs import flink_sql
from jobs.connectors import kafka, sources
from jobs.contract import Source
from jobs.naap import envelopes
from jobs.ops import java_udfs
from jobs.settings import Settings

DEAD_LETTER_TABLE = "naap.dead_letter"


def register(env: Any, t_env: Any, settings: Settings) -> None:
    """The source table and the shared views (no I/O beyond locating the jars)."""
    udf_jar = java_udfs.register(t_env)  # before the source: its event time is a Java function
    if settings.source == "kafka":
        kafka.register(t_env)  # the connector jar (jars.lock)
    # ADD JAR ships the jar with jobs the table environment submits; a pipeline executed by the
    # stream environment (a statement set attached to it, the late marker of STREAMING mode)
    # needs it in the environment's own jar list, which also makes its classes visible to py4j.
    env.add_jars(udf_jar.resolve().as_uri())
    t_env.execute_sql(sources.source_ddl(settings))
    envelopes.register(t_env, settings)


def rejects(settings: Settings, pipeline: str) -> str:
    """SQL of the source's rejects (decode, validate, late) as naap.dead_letter rows."""
    row = envelopes.dead_letter_row(settings, pipeline, "line_copy")
    return f"SELECT {flink_sql.literal(DEAD_LETTER_TABLE)} AS target, {row} AS row_json FROM source_rejects"


SOURCE = Source(name="gateway_events", register=register, rejects=rejects)
