"""A single-node Apache Kafka broker (KRaft) on 127.0.0.1, for tests and the local demo.

The broker runs from the ``kafka-broker`` jars of jars.lock (fetched into build/jars/ by
scripts/setup.sh), as its own JVM, in a fresh directory, on free loopback ports:
``kafka.tools.StorageTool format`` then ``kafka.Kafka server.properties``, the two steps of
``kafka-storage.sh format`` + ``kafka-server-start.sh``. Combined broker + controller roles,
replication factor 1, no topic auto-creation (topics are created explicitly, see
:func:`jobs.connectors.kafka.ensure_topic`).

    with kafka_broker.start() as broker:
        kafka.ensure_topic(broker.bootstrap, "streaming-events", partitions=4)
"""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from jobs.ops import jars

JAR_SET = "kafka-broker"
_LOG4J = """\
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


class BrokerError(RuntimeError):
    """The broker did not start; the message carries the tail of its log."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_properties(directory: Path, port: int, controller_port: int) -> str:
    """server.properties of a one-node KRaft cluster on loopback."""
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={directory / 'data'}",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            # A 2 MiB record must reach the job so that it can be dead-lettered (the job's own
            # limit, NETPULSE_MAX_EVENT_BYTES, is what rejects it), like a production topic
            # configured for large envelopes.
            "message.max.bytes=8388608",
            "replica.fetch.max.bytes=8388608",
            "",
        ]
    )


@dataclass
class Broker:
    """A running broker; stop it with :meth:`stop` (or use it as a context manager)."""

    bootstrap: str
    directory: Path
    process: subprocess.Popen[bytes]
    log: Path
    _own_directory: bool = False

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL after ``timeout``) and remove a temp directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def restart(self, *, timeout: float = 60.0, heap_mb: int = 512) -> float:
        """Start the stopped broker again on its directory, ports and data (no new format).

        As an operator restarts a broker after maintenance; returns the seconds until it answered.

        Raises:
            BrokerError: it is still running, or it did not come back within ``timeout``.
        """
        if self.process.poll() is None:
            raise BrokerError(f"the broker at {self.bootstrap} is still running; stop it first")
        started = time.monotonic()
        log4j = self.directory / "log4j2.properties"
        with (self.directory / "broker.out").open("ab") as out:
            self.process = subprocess.Popen(
                _java(":".join(str(p) for p in jars.ensure(JAR_SET)), "kafka.Kafka",
                      str(self.directory / "server.properties"), heap_mb=heap_mb, log4j=log4j),
                stdout=out, stderr=subprocess.STDOUT, cwd=self.directory,
            )
        _wait_ready(self, timeout)
        return time.monotonic() - started

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def _java(classpath: str, main: str, *args: str, heap_mb: int, log4j: Path) -> list[str]:
    return [
        "java", f"-Xms{min(heap_mb, 256)}m", f"-Xmx{heap_mb}m", "-XX:+UseG1GC",
        "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
        "-cp", classpath, main, *args,
    ]


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _cluster_id() -> str:
    """A random KRaft cluster id (22 URL-safe base64 characters) that does not start with '-'.

    The storage tool's argument parser reads such a value as an option and fails (seen in CI).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def start(directory: Path | None = None, *, timeout: float = 60.0, heap_mb: int = 512) -> Broker:
    """Format a fresh KRaft log directory and start a broker on free loopback ports.

    Args:
        directory: where data, config and log go (default: a new temp dir, removed on stop).
        timeout: seconds to wait until the broker answers a metadata request.
        heap_mb: the broker JVM's heap.

    Raises:
        BrokerError: the jars are missing or the broker did not come up in time.
    """
    classpath = ":".join(str(p) for p in jars.ensure(JAR_SET))
    own = directory is None
    directory = Path(tempfile.mkdtemp(prefix="netpulse-kafka-")) if directory is None else directory
    directory.mkdir(parents=True, exist_ok=True)
    port, controller_port = free_port(), free_port()
    while controller_port == port:
        controller_port = free_port()
    config = directory / "server.properties"
    config.write_text(server_properties(directory, port, controller_port))
    log = directory / "broker.log"
    log4j = directory / "log4j2.properties"
    log4j.write_text(_LOG4J.format(log=log))
    cluster_id = _cluster_id()
    fmt = subprocess.run(
        _java(classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config),
              heap_mb=256, log4j=log4j),
        capture_output=True, text=True, check=False,
    )
    if fmt.returncode != 0:
        raise BrokerError(f"kafka-storage format failed in {directory}:\n{fmt.stdout}{fmt.stderr}")
    with (directory / "broker.out").open("wb") as out:
        process = subprocess.Popen(
            _java(classpath, "kafka.Kafka", str(config), heap_mb=heap_mb, log4j=log4j),
            stdout=out, stderr=subprocess.STDOUT, cwd=directory,
        )
    broker = Broker(f"127.0.0.1:{port}", directory, process, log, own)
    try:
        _wait_ready(broker, timeout)
    except BaseException:
        broker.stop()
        raise
    return broker


def _wait_ready(broker: Broker, timeout: float) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout
    while True:
        if broker.process.poll() is not None:
            raise BrokerError(
                f"the Kafka broker exited ({broker.process.returncode}) before it was ready:\n"
                f"{_tail(broker.directory / 'broker.out')}{_tail(broker.log)}"
            )
        try:
            metadata = admin.list_topics(timeout=1)
            if metadata.brokers:
                return
        except Exception:  # noqa: S110 - KafkaException while the listener is not up yet
            pass
        if time.monotonic() > deadline:
            raise BrokerError(
                f"the Kafka broker at {broker.bootstrap} was not ready after {timeout:.0f} s:\n"
                f"{_tail(broker.log)}"
            )
        time.sleep(0.2)


def main() -> int:
    """``python -m jobs.ops.kafka_broker``: run a broker in the foreground until Ctrl-C."""
    with start() as broker:
        print(f"Kafka broker at {broker.bootstrap} (data in {broker.directory}); Ctrl-C stops it", flush=True)
        try:
            broker.process.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
