"""Run ``naap`` unbounded from a Kafka topic while publishing to it in phases; export the tables.

Test harness (tests/cluster/test_kafka.py): chDB allows one database directory per process, so
the job, the publisher and the export share this process, the test process only compares.

    python tests/kafka_run.py VAR_DIR SCENARIO_JSON   (settings from NETPULSE_* env)

Scenario: ``{"phases": [{"records": [[partition, value], ...], "pause_after_s": N}, ...],
"expect": {table: rows}, "timeout_s": N, "settle_s": N}``. A value is a string, ``null`` (a
tombstone) or ``{"hex": "..."}`` (raw bytes). The phases are published while the job runs,
each followed by its pause (nothing published for that long); after the last phase
the job runs until the tables hold ``expect`` rows, or nothing changed for ``settle_s``, or
``timeout_s``, and until the consumer group's committed offsets reach the end of every partition
(offsets are committed on checkpoint: checkpoints every 2 s here); then it is cancelled and every
table exported to VAR_DIR/tables.json, with the consumer lag per partition in run.json.

With ``NETPULSE_KAFKA_BOUNDED_MODE=latest-offset`` every phase is published first and the job
ends by itself at the offsets present when it started (the demo's way).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_run import EXPORT_TABLES, export  # noqa: E402

from jobs import runtime, settings  # noqa: E402
from jobs.connectors import clickhouse  # noqa: E402
from jobs.ops import migrate  # noqa: E402


def counts(config: settings.Settings) -> dict[str, int]:
    client = clickhouse.connect(config)
    with clickhouse.lock():
        return {
            t: int(client.query(f"SELECT count() FROM naap.{t}{EXPORT_TABLES[t]}").result_rows[0][0])
            for t in ("raw_events", "calculated_metrics", "dead_letter")
        }


def produce(bootstrap: str, topic: str, records: list[list[Any]]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "log_level": 3, "message.max.bytes": 8_388_608})
    errors: list[str] = []
    for partition, value in records:
        raw = value.encode() if isinstance(value, str) else (
            None if value is None else bytes.fromhex(value["hex"]))
        producer.produce(topic, value=raw, partition=int(partition),
                         on_delivery=lambda err, _m: errors.append(str(err)) if err else None)
        producer.poll(0)
    if producer.flush(60) or errors:
        raise RuntimeError(f"publish to {topic} failed: {errors[:3]}")


def lag(config: settings.Settings) -> dict[int, int]:
    """End offset minus the group's committed offset, per partition (what Kafka tooling shows)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": config.kafka_bootstrap, "group.id": config.kafka_group_id,
                         "enable.auto.commit": False, "log_level": 3})
    try:
        parts = consumer.list_topics(config.kafka_topic, timeout=10).topics[config.kafka_topic].partitions
        committed = consumer.committed([TopicPartition(config.kafka_topic, p) for p in parts], timeout=10)
        out = {}
        for tp in committed:
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            out[tp.partition] = high - (tp.offset if tp.offset >= 0 else 0)
        return out
    finally:
        consumer.close()


def with_checkpoints(create: Any) -> Any:
    def create_environment(config: settings.Settings, pipeline: str) -> Any:
        env, t_env = create(config, pipeline)
        env.enable_checkpointing(2000)
        return env, t_env

    return create_environment


def with_rest_port(get: Any, port: int) -> Any:
    """The MiniCluster's REST API on a known loopback port (watermarks for run.json)."""

    def get_execution_environment(configuration: Any = None) -> Any:
        configuration.set_string("rest.port", str(port))
        configuration.set_string("rest.bind-address", "127.0.0.1")
        configuration.set_string("rest.address", "127.0.0.1")
        return get(configuration)

    return get_execution_environment


def watermarks(port: int) -> dict[str, Any]:
    """Input watermark of every vertex (ms; absent before the first one) from the REST API."""
    import urllib.request

    def get(path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return json.loads(r.read())

    try:
        job = get("/jobs")["jobs"][0]["id"]
        out = {}
        for vertex in get(f"/jobs/{job}")["vertices"]:
            marks = get(f"/jobs/{job}/vertices/{vertex['id']}/watermarks")
            out[vertex["name"][:40]] = [m["value"] for m in marks]
        return out
    except Exception as exc:  # noqa: BLE001 - diagnostics only
        return {"error": str(exc)}


def main() -> int:
    var_dir, scenario = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
    config = settings.load()
    migrate.migrate(config)
    started = time.monotonic()
    if config.kafka_bounded_mode != "unbounded":
        for phase in scenario["phases"]:
            produce(config.kafka_bootstrap, config.kafka_topic, phase["records"])
        runtime.run(config, "naap")
        export(config, var_dir / "tables.json")
        (var_dir / "run.json").write_text(json.dumps({"seconds": round(time.monotonic() - started, 1)}))
        return 0
    runtime.create_environment = with_checkpoints(runtime.create_environment)
    from jobs.ops.kafka_broker import free_port

    rest_port = free_port()
    runtime.StreamExecutionEnvironment.get_execution_environment = with_rest_port(
        runtime.StreamExecutionEnvironment.get_execution_environment, rest_port)
    client = runtime.run(config, "naap", wait=False)
    samples: list[Any] = []
    timeline: list[dict[str, Any]] = []
    deadline = started + scenario.get("timeout_s", 400)
    for index, phase in enumerate(scenario["phases"]):
        produce(config.kafka_bootstrap, config.kafka_topic, phase["records"])
        timeline.append({"phase": index, "published_at_s": round(time.monotonic() - started, 1),
                         "records": len(phase["records"])})
        if phase.get("pause_after_s") is not None:
            # The topic pauses (nothing is published) for this long after the phase.
            pause_end = time.monotonic() + phase["pause_after_s"]
            while time.monotonic() < pause_end:
                samples.append((time.monotonic(), watermarks(rest_port)))
                time.sleep(min(15.0, max(0.0, pause_end - time.monotonic())))
            timeline[-1]["counts_after_pause"] = counts(config)
    expect = scenario.get("expect", {})
    last, last_change = counts(config), time.monotonic()
    while time.monotonic() < deadline:
        now = counts(config)
        if expect and all(now.get(t, 0) >= n for t, n in expect.items()):
            break
        if now != last:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > scenario.get("settle_s", 60):
            break
        if not samples or time.monotonic() - samples[-1][0] > 15:
            samples.append((time.monotonic(), watermarks(rest_port)))
        time.sleep(1)
    stopped_after = round(time.monotonic() - started, 1)
    lag_at_end = lag(config)
    while any(lag_at_end.values()) and time.monotonic() < deadline + 60:
        time.sleep(1)
        lag_at_end = lag(config)
    status = str(client.get_job_status().result())
    client.cancel().result()
    export(config, var_dir / "tables.json")
    (var_dir / "run.json").write_text(json.dumps(
        {"seconds": stopped_after, "status_before_cancel": status, "timeline": timeline,
         "final_counts": counts(config), "lag_at_end": lag_at_end,
         "watermarks": [[round(t - started, 1), w] for t, w in samples]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
