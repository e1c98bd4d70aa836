"""Kafka in production: the pinned Flink connector, the Kafka source table, a sample publisher.

The connector jar is pinned (version and SHA-256) in jars.lock, like every third-party jar;
jobs/ops/jars.py fetches and verifies it, and docker/flink/Dockerfile reads the same entry.

The Kafka source reads each record's value as one raw UTF-8 string (``line``), exactly like a
line of the ``files`` source, so both share the same parsing and dead-letter routing; the
record's topic/partition/offset come along as metadata columns and form the source position
of every dead-letter row.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobs.settings import Settings

# Flink's Kafka SQL connector (shaded Kafka client inside): version and sha256 are pinned in
# jars.lock (set "flink-kafka"), fetched by scripts/setup.sh and by the image build.
KAFKA_CONNECTOR_SET = "flink-kafka"
KAFKA_CONNECTOR_ARTIFACT = "org.apache.flink:flink-sql-connector-kafka"


def connector_jar() -> Path:
    """The verified connector jar (fetched with Maven on first use, see jobs/ops/jars.py)."""
    from jobs.ops import jars

    jar = jars.get(KAFKA_CONNECTOR_SET).jar(KAFKA_CONNECTOR_ARTIFACT)
    return next(p for p in jars.ensure(KAFKA_CONNECTOR_SET) if p.name == jar.file_name)


def register(t_env: Any) -> Path | None:
    """Add the connector jar to a table environment (planning and the submitted job).

    Not needed (returns None) where the Flink distribution's lib/ already holds the locked jar:
    the image puts it there (docker/flink/Dockerfile) and has no Maven.
    """
    from jobs.ops import jars
    from jobs.settings import flink_home_override

    locked = jars.get(KAFKA_CONNECTOR_SET).jar(KAFKA_CONNECTOR_ARTIFACT)
    flink_home = flink_home_override()
    if flink_home and (Path(flink_home) / "lib" / locked.file_name).exists():
        return None
    jar = connector_jar()
    t_env.execute_sql(f"ADD JAR '{jar}'")
    return jar


# The source table: the raw value plus where it came from. Metadata keys are the connector's
# (`topic`, `partition`, `offset`, `timestamp`); the columns get a kafka_ prefix because
# PARTITION/OFFSET are reserved words in Flink SQL.
KAFKA_SOURCE_COLUMNS = (
    "line STRING",
    "kafka_topic STRING METADATA FROM 'topic' VIRTUAL",
    "kafka_partition INT METADATA FROM 'partition' VIRTUAL",
    "kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL",
    "kafka_timestamp TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL",
    # The dead-letter "source position", same shape as the files source's: topic/partition/offset.
    "source_position AS CONCAT_WS('/', kafka_topic, CAST(kafka_partition AS STRING), "
    "CAST(kafka_offset AS STRING))",
)

_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_START_MODES = ("group-offsets", "earliest-offset", "latest-offset")


class KafkaConfigError(ValueError):
    """A Kafka setting cannot work; the message names the NETPULSE_* variable."""


def source_options(
    settings: Settings, extra_properties: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The WITH options of the Kafka source table, from settings.

    Args:
        settings: ``kafka_bootstrap``, ``kafka_topic``, ``kafka_group_id``, ``kafka_start``.
        extra_properties: Kafka client properties (``security.protocol``, ``sasl.*`` ...),
            passed as ``properties.<name>``; secrets belong in the environment, not in code.

    Raises:
        KafkaConfigError: empty bootstrap servers or group id, or an invalid topic name.
    """
    if not settings.kafka_bootstrap.strip():
        raise KafkaConfigError("NETPULSE_KAFKA_BOOTSTRAP is empty; set host:port[,host:port]")
    if not _TOPIC.match(settings.kafka_topic):
        raise KafkaConfigError(
            f"NETPULSE_KAFKA_TOPIC={settings.kafka_topic!r} is not a Kafka topic name "
            "(1-249 of letters, digits, '.', '_', '-')"
        )
    if not settings.kafka_group_id.strip():
        raise KafkaConfigError("NETPULSE_KAFKA_GROUP_ID is empty; set the consumer group name")
    if settings.kafka_start not in _START_MODES:
        raise KafkaConfigError(
            f"NETPULSE_KAFKA_START={settings.kafka_start!r}: expected one of {_START_MODES}"
        )
    options = {
        "connector": "kafka",
        "topic": settings.kafka_topic,
        "properties.bootstrap.servers": settings.kafka_bootstrap,
        "properties.group.id": settings.kafka_group_id,
        "properties.client.id.prefix": settings.kafka_group_id,
        "scan.startup.mode": settings.kafka_start,
        # group-offsets with no committed offset (a new group) would fail the job; start at the
        # beginning of the retained log instead, so a first deployment misses nothing.
        "properties.auto.offset.reset": "earliest",
        # Flink's checkpointed offsets are the truth; committing them to Kafka on checkpoint
        # only makes consumer lag visible to Kafka tooling.
        "properties.commit.offsets.on.checkpoint": "true",
        # Never read records of aborted producer transactions.
        "properties.isolation.level": "read_committed",
        "scan.topic-partition-discovery.interval": "1 min",
        "scan.bounded.mode": settings.kafka_bounded_mode,
        # Event time is tracked per partition inside the source (the WATERMARK is pushed into
        # it); a partition without records for this long stops holding back the others (one
        # that never receives anything would stall every window). Keep it longer than the
        # pauses after which a backlog can arrive: when every partition is idle, the first one
        # read after the pause moves the watermark alone, and the other partitions' older
        # records of the same backlog are late (docs/operations.md, "Idle partitions").
        **(
            {"scan.watermark.idle-timeout": f"{settings.kafka_idle_timeout_s} s"}
            if settings.kafka_idle_timeout_s > 0
            else {}
        ),
        # One raw UTF-8 string per record, exactly like a line of the files source.
        "format": "raw",
        "raw.charset": "UTF-8",
    }
    for name, value in (extra_properties or {}).items():
        options[f"properties.{name}"] = value
    return options


# --------------------------------------------------------------------------------------------
# Publishing sample events (replay of fixtures into a real broker)
# --------------------------------------------------------------------------------------------


def read_lines(path: Path) -> list[str]:
    """Non-empty lines of a JSON-lines file, unchanged (bytes on the wire = bytes in the file)."""
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _key_of(line: str, key_field: str | None) -> bytes | None:
    if not key_field:
        return None
    try:
        value = json.loads(line).get(key_field)
    except (ValueError, AttributeError):
        return None  # a broken line is published as-is, unkeyed: the job must reject it
    return None if value in (None, "") else str(value).encode()


def stream_key(line: str) -> bytes | None:
    """Record key of a gateway event: its stream id (``data.stream_id``), else its event id.

    One stream's events land in one partition, in order, as the gateways key them.
    """
    try:
        envelope = json.loads(line)
    except ValueError:
        return None
    return envelope_key(envelope)


def envelope_key(envelope: Any) -> bytes | None:
    """:func:`stream_key` of an envelope already parsed (None for anything but an object)."""
    if not isinstance(envelope, dict):
        return None
    data = envelope.get("data")
    stream = data.get("stream_id") if isinstance(data, dict) else None
    key = stream or envelope.get("id")
    return str(key).encode() if key not in (None, "") else None


def ensure_topic(bootstrap: str, topic: str, partitions: int = 1, timeout: float = 30.0) -> None:
    """Create ``topic`` if it does not exist (replication factor 1: a local/dev broker)."""
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic in admin.list_topics(timeout=timeout).topics:
        return
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
    )
    try:
        futures[topic].result(timeout)
    except Exception as exc:  # confluent_kafka raises KafkaException wrapping a KafkaError
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise


def publish(
    lines: Iterable[str],
    bootstrap: str,
    topic: str,
    *,
    key_field: str | None = "id",
    key: Callable[[str], bytes | None] | None = None,
    partition: Callable[[str], int] | None = None,
    timeout: float = 60.0,
    config: Mapping[str, Any] | None = None,
) -> int:
    """Publish each line as one record value; returns how many the broker acknowledged.

    The producer is idempotent with ``acks=all``, so a retried send is not duplicated.

    Args:
        lines: record values (e.g. :func:`read_lines` of a fixture).
        bootstrap: ``host:port`` of the broker.
        topic: target topic (must exist, see :func:`ensure_topic`).
        key_field: JSON field used as the record key (None: unkeyed).
        key: the record key of a line, instead of ``key_field`` (None: unkeyed).
        partition: the partition of a line (None: the producer's partitioner).
        timeout: seconds to wait for every acknowledgement.
        config: extra producer settings (security, linger ...).

    Raises:
        RuntimeError: a record was not acknowledged, naming the first error.
    """
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            **(config or {}),
        }
    )
    errors: list[str] = []
    delivered = 0

    def on_delivery(err: Any, _msg: Any) -> None:
        nonlocal delivered
        if err is not None:
            errors.append(str(err))
        else:
            delivered += 1

    sent = 0
    for line in lines:
        while True:
            try:
                extra: dict[str, Any] = {"partition": partition(line)} if partition else {}
                producer.produce(
                    topic,
                    value=line.encode("utf-8"),
                    key=key(line) if key else _key_of(line, key_field),
                    on_delivery=on_delivery,
                    **extra,
                )
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.1)
        sent += 1
        producer.poll(0)
    remaining = producer.flush(timeout)
    if errors or remaining or delivered != sent:
        raise RuntimeError(
            f"{delivered} of {sent} records acknowledged by {bootstrap} topic {topic!r}; "
            f"{remaining} still queued; first error: {errors[0] if errors else 'timeout'}"
        )
    return delivered


def consume(
    bootstrap: str,
    topic: str,
    expected: int,
    *,
    timeout: float = 60.0,
) -> list[tuple[int, int, str]]:
    """Read ``expected`` records from the start of every partition: (partition, offset, value).

    Partitions are assigned directly (no consumer-group join, which takes seconds), like
    Flink's Kafka source does.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "netpulse-inspect",
            "enable.auto.commit": False,
        }
    )
    records: list[tuple[int, int, str]] = []
    deadline = time.monotonic() + timeout
    try:
        partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(partitions)])
        while len(records) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                if msg.error():
                    raise RuntimeError(f"consume from {topic!r} failed: {msg.error()}")
                records.append(
                    (
                        int(msg.partition() or 0),
                        int(msg.offset() or 0),
                        (msg.value() or b"").decode("utf-8"),
                    )
                )
    finally:
        consumer.close()
    return records


def consumer_lag(bootstrap: str, topic: str, group_id: str, timeout: float = 10.0) -> dict[int, int]:
    """Records not yet committed by ``group_id``, per partition: end offset minus committed offset.

    What Kafka tooling shows as consumer lag. The job commits its offsets on checkpoint, so a
    job that keeps up still shows up to one checkpoint interval of records; a partition the
    group has not committed yet counts from its first retained offset.
    """
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id,
                         "enable.auto.commit": False, "log_level": 3})
    try:
        partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in sorted(partitions)], timeout=timeout)
        lag = {}
        for tp in committed:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
            lag[tp.partition] = high - (tp.offset if tp.offset >= 0 else low)
        return lag
    finally:
        consumer.close()


# --------------------------------------------------------------------------------------------
# CLI: `python -m jobs.connectors.kafka publish FILE ...`, `python -m jobs.connectors.kafka lag ...`
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``publish``, ``lag``."""
    parser = argparse.ArgumentParser(
        prog="python -m jobs.connectors.kafka", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("publish", help="publish a JSON-lines file to a topic, one record per line")
    p.add_argument("file", type=Path)
    p.add_argument("--bootstrap", required=True, help="host:port of a broker")
    p.add_argument("--topic", required=True)
    p.add_argument("--key-field", default="id", help="JSON field used as record key ('' = none)")
    p.add_argument("--create-topic", action="store_true", help="create the topic if missing")
    p.add_argument("--partitions", type=int, default=1)
    g = sub.add_parser("lag", help="consumer lag of a group per partition (offsets the job committed)")
    g.add_argument("--bootstrap", required=True, help="host:port of a broker")
    g.add_argument("--topic", required=True)
    g.add_argument("--group", required=True, help="consumer group id (NETPULSE_KAFKA_GROUP_ID)")
    args = parser.parse_args(argv)
    if args.command == "lag":
        lag = consumer_lag(args.bootstrap, args.topic, args.group)
        print(json.dumps({"topic": args.topic, "group": args.group, "lag": lag, "total": sum(lag.values())}))
        return 0
    if args.create_topic:
        ensure_topic(args.bootstrap, args.topic, args.partitions)
    count = publish(
        read_lines(args.file), args.bootstrap, args.topic, key_field=args.key_field or None
    )
    print(f"published {count} records from {args.file} to {args.topic}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
