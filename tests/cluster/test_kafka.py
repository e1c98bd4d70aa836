"""Kafka for real: the source options and the jar pins (no JVM), then a real Apache Kafka broker
(jars.lock, KRaft, loopback; one per session, tests/cluster/conftest.py): publish + consume
round trips, and the naap pipeline reading a topic through the pinned connector.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobs import kafka
from jobs.kafka_broker import Broker
from jobs.settings import PROJECT_ROOT, Settings

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "kafka" / "streaming-events-2026-01-08.values.jsonl"


def _settings(**changes: object) -> Settings:
    return Settings().replace(**changes)


def test_source_options_follow_settings() -> None:
    opts = kafka.source_options(
        _settings(
            kafka_bootstrap="k1:9092,k2:9092",
            kafka_topic="streaming-events",
            kafka_group_id="netpulse-naap",
            kafka_start="earliest-offset",
        )
    )
    assert opts["connector"] == "kafka"
    assert opts["topic"] == "streaming-events"
    assert opts["properties.bootstrap.servers"] == "k1:9092,k2:9092"
    assert opts["properties.group.id"] == "netpulse-naap"
    assert opts["scan.startup.mode"] == "earliest-offset"
    assert opts["format"] == "raw"
    assert opts["scan.bounded.mode"] == "unbounded"  # production never stops by itself
    # A brand-new consumer group must not fail the job for lack of committed offsets.
    assert opts["properties.auto.offset.reset"] == "earliest"


def test_extra_client_properties_are_prefixed() -> None:
    opts = kafka.source_options(_settings(), {"security.protocol": "SASL_SSL"})
    assert opts["properties.security.protocol"] == "SASL_SSL"


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"kafka_bootstrap": " "}, "NETPULSE_KAFKA_BOOTSTRAP"),
        ({"kafka_topic": "bad topic!"}, "NETPULSE_KAFKA_TOPIC"),
        ({"kafka_group_id": ""}, "NETPULSE_KAFKA_GROUP_ID"),
        ({"kafka_start": "timestamp"}, "NETPULSE_KAFKA_START"),
    ],
)
def test_bad_settings_name_the_variable(changes: dict[str, str], variable: str) -> None:
    with pytest.raises(kafka.KafkaConfigError, match=variable):
        kafka.source_options(_settings(**changes))


def test_ddl_has_raw_line_and_position_metadata() -> None:
    ddl = kafka.source_ddl("kafka_events", _settings(kafka_group_id="it's"))
    assert ddl.startswith("CREATE TEMPORARY TABLE kafka_events (")
    assert "line STRING" in ddl
    for key in ("topic", "partition", "offset"):
        assert f"METADATA FROM '{key}' VIRTUAL" in ddl
    assert "'properties.group.id' = 'it''s'" in ddl  # quotes escaped


def test_connector_pin_comes_from_jars_lock() -> None:
    from jobs import jars

    sets = jars.load()
    connector = sets[kafka.KAFKA_CONNECTOR_SET].jar(kafka.KAFKA_CONNECTOR_ARTIFACT)
    assert connector.url.endswith(f"/{connector.version}/{connector.file_name}")
    assert connector.url.startswith("https://repo.maven.apache.org/maven2/org/apache/flink/")
    # The broker set is a whole classpath: the broker, its client and a log binding.
    broker = {j.artifact for j in sets["kafka-broker"].jars}
    assert {"kafka_2.13", "kafka-server", "kafka-clients", "log4j-slf4j-impl"} <= broker


def test_jars_urls_run_standalone_for_the_image_build() -> None:
    # The Dockerfile runs jobs/jars.py by path with a bare interpreter, before the project is
    # installed: it must need nothing but the standard library.
    out = subprocess.run(
        [sys.executable, "-I", str(PROJECT_ROOT / "jobs" / "jars.py"),
         "--manifest", str(PROJECT_ROOT / "jars.lock"), "urls", "flink-kafka"],
        capture_output=True, text=True, check=True, cwd="/",
    ).stdout.split()
    from jobs import jars

    jar = jars.get("flink-kafka").jars[0]
    assert out == [jar.url, jar.sha256, jar.file_name]


def test_a_jar_that_does_not_match_its_sha256_is_refused(tmp_path: Path) -> None:
    from jobs import jars

    manifest = tmp_path / "jars.lock"
    real = jars.get("flink-kafka").jars[0]
    manifest.write_text(f'[set.x]\nroots = []\n[set.x.jars]\n"{real.coordinate}" = "{"0" * 64}"\n')
    (tmp_path / "jars" / "x").mkdir(parents=True)
    (tmp_path / "jars" / "x" / real.file_name).write_bytes(b"not the jar")
    problems = jars._problems(jars.get("x", manifest), tmp_path / "jars" / "x")
    assert len(problems) == 1 and "sha256" in problems[0]


def test_stream_key_keeps_a_stream_in_one_partition() -> None:
    line = '{"id":"e1","type":"ai_stream_status","timestamp":"1","data":{"stream_id":"s-1"}}'
    assert kafka.stream_key(line) == b"s-1"
    assert kafka.stream_key('{"id":"e2","type":"discovery_results","data":[]}') == b"e2"
    assert kafka.stream_key("garbage{") is None


# --- a real broker (tests/cluster/conftest.py: Apache Kafka from jars.lock, one per session) --


@pytest.mark.slow
def test_real_events_round_trip_through_a_broker(kafka_broker: Broker) -> None:
    lines = kafka.read_lines(FIXTURE)
    assert len(lines) == 65
    kafka.ensure_topic(kafka_broker.bootstrap, "round-trip", partitions=1)
    assert kafka.publish(lines, kafka_broker.bootstrap, "round-trip") == 65
    records = kafka.consume(kafka_broker.bootstrap, "round-trip", expected=65, timeout=60)
    # Bytes in = bytes out, in order, offsets 0..64 on the single partition.
    assert [value for _, _, value in records] == lines
    assert [offset for _, offset, _ in records] == list(range(65))


@pytest.mark.slow
def test_stream_keys_spread_events_over_partitions_without_loss(kafka_broker: Broker) -> None:
    lines = kafka.read_lines(FIXTURE)
    kafka.ensure_topic(kafka_broker.bootstrap, "keyed-3p", partitions=3)
    kafka.publish(lines, kafka_broker.bootstrap, "keyed-3p", key=kafka.stream_key)
    records = kafka.consume(kafka_broker.bootstrap, "keyed-3p", expected=65, timeout=60)
    assert sorted(value for _, _, value in records) == sorted(lines)
    ids = [json.loads(value)["id"] for _, _, value in records]
    assert len(set(ids)) == 65
    # One stream, one partition (its events stay in order there).
    partitions_of: dict[bytes | None, set[int]] = {}
    for partition, _, value in records:
        partitions_of.setdefault(kafka.stream_key(value), set()).add(partition)
    assert all(len(p) == 1 for p in partitions_of.values())
