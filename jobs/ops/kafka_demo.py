"""``python -m jobs demo --source kafka``: the bundled events through a real Kafka topic.

Starts a one-node broker on loopback (jobs/ops/kafka_broker.py), creates a topic with
``PARTITIONS`` partitions, publishes the real sample events in envelope-time order keyed by
stream id (one stream = one partition, in order, as the gateways key them), and returns the
settings that make ``naap`` read that topic from the beginning up to the offsets present at
job start (``scan.bounded.mode = latest-offset``), so the run ends by itself like the files demo.
"""

from __future__ import annotations

import shutil

from jobs.connectors import kafka
from jobs.naap import sample
from jobs.ops import kafka_broker
from jobs.settings import Settings

PARTITIONS = 4
TOPIC = "streaming-events"


def publish_sample(
    lines: list[str], settings: Settings, partitions: int = PARTITIONS
) -> tuple[kafka_broker.Broker, Settings]:
    """Start a broker, publish ``lines`` to a new topic; returns it and the job's settings.

    The caller stops the broker (``broker.stop()``) after the run.
    """
    directory = settings.var_dir / "kafka"
    shutil.rmtree(directory, ignore_errors=True)  # a fresh topic every demo
    broker = kafka_broker.start(directory)
    try:
        kafka.ensure_topic(broker.bootstrap, TOPIC, partitions)
        ordered = sorted(lines, key=sample.envelope_ms)
        # log_level 3: no warning while the fresh broker loads its coordinators (retried anyway)
        kafka.publish(ordered, broker.bootstrap, TOPIC, key=kafka.stream_key, config={"log_level": 3})
    except BaseException:
        broker.stop()
        raise
    return broker, settings.replace(
        source="kafka",
        kafka_bootstrap=broker.bootstrap,
        kafka_topic=TOPIC,
        kafka_group_id="netpulse-demo",
        kafka_start="earliest-offset",
        kafka_bounded_mode="latest-offset",
    )
