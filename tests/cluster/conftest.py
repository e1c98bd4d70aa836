"""Fixtures of the cluster tests: one real Kafka broker per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobs import kafka_broker as broker_module


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[broker_module.Broker]:
    """A one-node Apache Kafka broker (KRaft) on 127.0.0.1, shared by the session (~8 s start).

    Tests create their own topics, named after the test, so they never see each other's records.
    """
    broker = broker_module.start(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker
    finally:
        broker.stop()
