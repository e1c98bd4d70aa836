"""Exactly-once from Kafka on a real standalone cluster and a real broker: one disrupted run and
one uninterrupted run of ``naap`` over the same topic.

Run by tests/cluster/test_kafka_exactly_once.py inside a private network namespace
(``unshare --net``) when the machine allows it. Usage::

    python tests/cluster/kafka_eo_scenario.py <work_dir> [--events N] [--seed S]

Input: ``N`` synthetic gateway events (bench/generate.py, seeded: realistic disorder, repeated
deliveries, malformed and hours-late lines) plus three identical garbage lines, published to a
4-partition topic keyed by stream id (a line's partition is a CRC of its key, so the topic's
content, offsets included, depends on the seed only) in ``CHUNKS`` chunks while the job runs.

The **disrupted** run (``<work>/scenario``) reads the topic from the earliest offset, with
offsets in Flink's checkpoints and the consumer group's offsets committed on checkpoint (the lag
the scenario waits on is what Kafka tooling shows). Between and during the chunks:

* three TaskManager ``kill -9`` (with its Python workers) at seeded random delays after a chunk
  was published; a new TaskManager is started each time and Flink restarts from the checkpoint;
* a stop-with-savepoint and redeploy of a changed job version (another release directory, and
  changed settings: ``NETPULSE_MAX_EVENT_BYTES`` 1 MiB -> 2 MiB, and the state TTL switched on,
  ``NETPULSE_STATE_TTL_S`` 0 -> its default of a day, the upgrade of a deployment from before the
  setting; same statements and uids);
* a rescale 1 -> 2 -> 1 (stop-with-savepoint, resubmit at ``NETPULSE_PARALLELISM=2``, again
  at 1);
* the broker stopped (SIGTERM) for 60 s at a seeded random delay after a chunk was published,
  then restarted on the same data and ports;

and it ends with ``flink stop --drain`` once the consumer lag is 0. The **reference** run
(``<work>/reference``) then reads the same topic uninterrupted with its own consumer group,
bounded at the offsets present when it starts (``latest-offset``: the end of input closes every
window, as the drain does). Each run's tables are exported by a separate process (chDB allows
one process per database directory) to ``<run>/tables.json``; Parquet stays in
``<run>/var/parquet``. Prints ``RESULT <json>`` with the observations and timings; the records
as published (partition, offset, value) go to ``<work>/records.jsonl`` for the accounting.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import time
import urllib.parse
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import eo_scenario as eo  # noqa: E402

from bench import generate  # noqa: E402
from jobs import settings  # noqa: E402
from jobs.connectors import kafka  # noqa: E402
from jobs.ops import deploy, flink_conf, flink_dist, kafka_broker, ledger, lifecycle, releases, rest  # noqa: E402
from tests import netns  # noqa: E402

JOB = "naap"
TOPIC = "gateway-events-eo"
PARTITIONS = 4
CHUNKS = 8
GARBAGE = "garbage{"
HOURS_LATE_S = 600  # planted three times in one partition: three dead-letter rows, not one
# Production-like job settings (defaults: 120 s allowed lateness above the generator's 90 s of
# disorder, 60 s batches), the same in both runs; the one difference of version 2 is harmless
# for this input (no line comes near 1 MiB).
JOB_ENV = {
    "NETPULSE_SOURCE": "kafka",
    "NETPULSE_KAFKA_TOPIC": TOPIC,
    "NETPULSE_KAFKA_START": "earliest-offset",
    "NETPULSE_PARALLELISM": "1",
    "NETPULSE_WRITER_PARALLELISM": "1",
    "NETPULSE_PROGRESS_INTERVAL_S": "0",
}
# Version 1 keeps per-key state forever (as before NETPULSE_STATE_TTL_S existed); version 2 and
# the reference run have the default TTL (a day: nothing of this input expires).
VERSION_1 = {"NETPULSE_STATE_TTL_S": "0"}
VERSION_2 = {"NETPULSE_MAX_EVENT_BYTES": str(2 << 20)}


def partition_of(line: str) -> int:
    """The line's partition: a CRC of its record key (stream id, else event id, else the line)."""
    key = kafka.stream_key(line) or line.encode()
    return zlib.crc32(key) % PARTITIONS


def input_lines(work: Path, events: int, seed: int, without_late: bool = False) -> tuple[list[str], int]:
    """The generated lines in arrival order, three identical garbage lines planted mid-way;
    and how many hours-late deliveries were left out (``without_late``)."""
    out = work / "generated"
    manifest = generate.generate(out, events, seed=seed)
    lines = [
        line for name in manifest["files"] for line in (out / name).read_text().splitlines() if line
    ]
    dropped = 0
    if without_late:
        late = hours_late(lines)
        kept = [line for line in lines if line not in late]
        dropped, lines = len(lines) - len(kept), kept
    middle = len(lines) // 2
    return lines[:middle] + [GARBAGE] * 3 + lines[middle:], dropped


def envelope_ms(line: str) -> int | None:
    try:
        value = json.loads(line).get("timestamp")
        return int(value)
    except (ValueError, TypeError, AttributeError):
        return None


def hours_late(lines: list[str]) -> set[str]:
    """The generator's hours-late deliveries: an envelope time more than ``HOURS_LATE_S``
    behind the newest one delivered before it (its ordinary disorder is under 90 s)."""
    late, newest = set(), 0
    for line in lines:
        ms = envelope_ms(line)
        if ms is None:
            continue
        if ms < newest - HOURS_LATE_S * 1000:
            late.add(line)
        newest = max(newest, ms)
    return late


def records_of(lines: list[str]) -> list[tuple[int, int, str]]:
    """(partition, offset, value) of every line as published in this order (an idempotent
    producer appends each partition's records in send order, offsets from 0)."""
    next_offset = [0] * PARTITIONS
    out = []
    for line in lines:
        p = partition_of(line)
        out.append((p, next_offset[p], line))
        next_offset[p] += 1
    return out


def job_settings(var: Path, bootstrap: str, group: str, **extra: str) -> settings.Settings:
    var.mkdir(parents=True, exist_ok=True)
    return settings.load({
        "NETPULSE_VAR_DIR": str(var), **JOB_ENV, "NETPULSE_KAFKA_BOOTSTRAP": bootstrap,
        "NETPULSE_KAFKA_GROUP_ID": group, **extra,
    })


def lag(config: settings.Settings) -> dict[int, int]:
    """End offset minus the group's committed offset per partition (what Kafka tooling shows;
    the job commits on checkpoint). A partition without a committed offset counts in full."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": config.kafka_bootstrap, "group.id": config.kafka_group_id,
                         "enable.auto.commit": False, "log_level": 0})
    try:
        committed = consumer.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=10)
        out = {}
        for tp in committed:
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            out[tp.partition] = high - (tp.offset if tp.offset >= 0 else 0)
        return out
    finally:
        consumer.close()


def wait_caught_up(config: settings.Settings, timeout: float, what: str) -> float:
    """Wait until the group's committed offsets reach the end of every partition."""

    def caught_up() -> bool:
        try:
            return not any(lag(config).values())
        except Exception:  # noqa: BLE001 - the broker is restarting: not caught up yet
            return False

    return eo.wait_until(caught_up, timeout, what, step=1.0)


def kill_taskmanagers(cs: settings.Settings) -> dict[str, Any]:
    """SIGKILL every TaskManager with its Python workers (a crashed host or container)."""
    pids = lifecycle.taskmanager_pids(cs)
    workers = [child for pid in pids for child in eo.descendants(pid)]
    for pid in pids + workers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    eo.wait_until(lambda: all(not Path(f"/proc/{p}").exists() for p in pids + workers), 20, "TaskManager gone")
    return {"taskmanagers": len(pids), "python_workers": len(workers)}


def new_release(release: Path) -> Path:
    """Version 2 of the code: a copy of the release with a changed module (a new code hash,
    same plan)."""
    v2 = release.with_name(release.name + "-v2")
    if not v2.exists():
        shutil.copytree(release, v2)
        runtime_py = v2 / "jobs" / "runtime.py"
        runtime_py.write_text(runtime_py.read_text() + "\n# release 2 of the exactly-once drill\n")
    return v2


class Drill:
    """The disrupted run, step by step; every step appends to ``steps``."""

    def __init__(self, work: Path, broker: kafka_broker.Broker, records: list[tuple[int, int, str]],
                 cs: settings.Settings, release: Path, seed: int) -> None:
        self.var = work / "scenario" / "var"
        self.broker = broker
        self.cs = cs
        self.rng = random.Random(seed)
        self.settings = job_settings(self.var, broker.bootstrap, "netpulse-eo")
        self.target = releases.project_target(JOB, release)
        self.release = release
        size = -(-len(records) // CHUNKS)
        self.chunks = [records[i : i + size] for i in range(0, len(records), size)]
        self.started = time.monotonic()
        self.steps: list[dict[str, Any]] = []
        self.job_id = ""
        self.read_before_chunk = 0

    def at(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def log(self, step: str, **fields: Any) -> None:
        entry = {"step": step, "at_s": self.at(), **fields}
        self.steps.append(entry)
        print("STEP " + json.dumps(entry), flush=True)

    def publish(self, index: int) -> None:
        chunk = self.chunks[index]
        started = time.monotonic()
        kafka.publish([v for _, _, v in chunk], self.broker.bootstrap, TOPIC,
                      key=kafka.stream_key, partition=partition_of, config={"linger.ms": 20})
        self.read_before_chunk = self.source_records_in()
        self.log("publish", chunk=index, records=len(chunk), seconds=round(time.monotonic() - started, 2))

    def source_records_in(self) -> int:
        """Records the job's Kafka source has emitted since its last (re)start: the source
        operator's numRecordsOut summed over its subtasks (REST metrics; 0 while restarting)."""
        try:
            for vertex in rest.job_vertices(self.job_id):
                if not vertex["name"].startswith("Source:"):
                    continue
                base = f"jobs/{self.job_id}/vertices/{vertex['id']}/subtasks/metrics"
                ids = {m["id"] for m in rest.rest_get(base) if m["id"].startswith("Source__")
                       and m["id"].endswith(".numRecordsOut")}
                if not ids:
                    return 0
                values = rest.rest_get(f"{base}?agg=sum&get=" + urllib.parse.quote(",".join(ids), safe=","))
                return int(sum(float(v.get("sum", 0)) for v in values))
        except (OSError, ValueError, KeyError):
            pass
        return 0

    def caught_up(self, what: str, timeout: float = 900) -> None:
        self.log("caught_up", what=what, waited_s=round(wait_caught_up(self.settings, timeout, what), 1))

    def mid_chunk(self, chunk: int, what: str) -> dict[str, Any]:
        """Wait for a seeded random point inside ``chunk``: until the source has emitted that
        share of it (REST metrics, refreshed every few seconds: the point is approximate)."""
        share = round(self.rng.uniform(0.1, 0.9), 2)
        target = self.read_before_chunk + int(share * len(self.chunks[chunk]))
        waited = eo.wait_until(lambda: self.source_records_in() >= target, 600, f"{what}: {target} records read", 0.2)
        return {"chunk": chunk, "at_share_of_chunk": share, "waited_s": round(waited, 1)}

    def kill(self, number: int, chunk: int) -> None:
        point = self.mid_chunk(chunk, f"kill {number}")
        try:
            lag_at_kill: int | None = sum(lag(self.settings).values())
        except Exception:  # noqa: BLE001 - e.g. NOT_COORDINATOR while the group coordinator loads
            lag_at_kill = None
        read_at_kill = self.source_records_in()
        restarts = eo.num_restarts(self.job_id)
        killed_at = time.monotonic()
        killed = kill_taskmanagers(self.cs)
        lifecycle.start_taskmanager(self.cs)
        eo.wait_until(lambda: eo.num_restarts(self.job_id) > restarts, 180, "job restart")
        rest.wait_for_state(self.job_id, {"RUNNING"}, timeout=180)
        eo.wait_until(lambda: self._all_running(), 180, "every task running again")
        self.log("kill_taskmanager", number=number, **point,
                 committed_lag_at_kill=lag_at_kill, records_read_at_kill=read_at_kill,
                 **killed,
                 kill_to_running_s=round(time.monotonic() - killed_at, 1),
                 restarts=eo.num_restarts(self.job_id))

    def _all_running(self) -> bool:
        detail = rest.rest_get(f"jobs/{self.job_id}")
        return all(v.get("status") == "RUNNING" for v in detail.get("vertices", []))

    def redeploy(self, step: str, config: settings.Settings, target: releases.JobTarget, chunk: int) -> None:
        point = self.mid_chunk(chunk, step)
        # Planning the ~90-operator plan in the client takes minutes on a loaded machine.
        deployment = deploy.redeploy(JOB, config, target=target, timeout=600)
        self.settings = config
        self.job_id = deployment.job_id
        self.log(step, **point, savepoint=deployment.savepoint_taken, savepoint_bytes=deployment.savepoint_bytes,
                 plan_changed=deployment.plan_changed, code_hash=deployment.code_hash,
                 parallelism=config.parallelism, timings_s=deployment.timings_s)

    def broker_outage(self, seconds: float, chunk: int) -> None:
        point = self.mid_chunk(chunk, "broker stop")
        stopped_at = time.monotonic()
        self.broker.stop()
        self.log("broker_stopped", **point,
                 stop_s=round(time.monotonic() - stopped_at, 1))
        time.sleep(max(0.0, seconds - (time.monotonic() - stopped_at)))
        down = round(time.monotonic() - stopped_at, 1)
        up_s = self.broker.restart()
        state = rest.wait_for_state(self.job_id, {"RUNNING"}, timeout=180)
        self.log("broker_restarted", down_s=down, restart_s=round(up_s, 1), job_state=state,
                 restarts=eo.num_restarts(self.job_id))

    def run(self) -> dict[str, Any]:
        base = self.settings
        v1 = self.settings = base.replace(state_ttl_s=int(VERSION_1["NETPULSE_STATE_TTL_S"]))
        first = deploy.submit(JOB, v1, target=self.target, timeout=600)
        self.job_id = first.job_id
        self.log("submit", job_id=self.job_id, timings_s=first.timings_s)
        v2_target = releases.project_target(JOB, new_release(self.release))
        v2 = base.replace(max_event_bytes=int(VERSION_2["NETPULSE_MAX_EVENT_BYTES"]))
        # chunk 0, kill 1 mid-chunk
        self.publish(0)
        self.kill(1, 0)
        self.caught_up("chunk 0")
        # chunk 1, then version 2 from a savepoint, mid-chunk
        self.publish(1)
        self.redeploy("redeploy_version_2", v2, v2_target, 1)
        self.caught_up("chunk 1")
        # chunk 2, kill 2
        self.publish(2)
        self.kill(2, 2)
        self.caught_up("chunk 2")
        # chunk 3, rescale to 2, mid-chunk
        self.publish(3)
        self.redeploy("rescale_to_2", v2.replace(parallelism=2), v2_target, 3)
        self.caught_up("chunk 3")
        # chunk 4, the broker down for 60 s, mid-chunk
        self.publish(4)
        self.broker_outage(60, 4)
        self.caught_up("chunk 4")
        # chunk 5, kill 3 (at parallelism 2)
        self.publish(5)
        self.kill(3, 5)
        self.caught_up("chunk 5")
        # chunk 6, rescale back to 1, mid-chunk
        self.publish(6)
        self.redeploy("rescale_to_1", v2, v2_target, 6)
        self.caught_up("chunk 6")
        for index in range(7, len(self.chunks)):
            self.publish(index)
        self.caught_up("last chunk")
        timings: dict[str, float] = {}
        eo.drain(self.job_id, self.settings, timings, "drain_stop")
        self.log("drain", timings_s=timings)
        return {
            "steps": self.steps,
            "seconds": self.at(),
            "restarts_last_job": eo.num_restarts(self.job_id),
            "ledger_actions": [e["action"] for e in ledger.read_ledger(self.settings)],
            "checkpoints_last_job": eo.completed_checkpoints(self.job_id)[0],
        }


def run_reference(work: Path, bootstrap: str, target: releases.JobTarget) -> dict[str, Any]:
    """The uninterrupted run: the whole topic, bounded at its end offsets, one job, no fault."""
    config = job_settings(work / "reference" / "var", bootstrap, "netpulse-eo-reference",
                          NETPULSE_KAFKA_BOUNDED_MODE="latest-offset")
    started = time.monotonic()
    job = deploy.submit(JOB, config, target=target, timeout=600)
    state = rest.wait_for_state(job.job_id, {"FINISHED"}, timeout=3600)
    if state != "FINISHED":
        raise RuntimeError(f"reference run ended {state}:\n{rest.job_failure(job.job_id)[:3000]}")
    return {"seconds": round(time.monotonic() - started, 1), "restarts": eo.num_restarts(job.job_id),
            "checkpoints": eo.completed_checkpoints(job.job_id)[0]}


def export(run_dir: Path, config: settings.Settings) -> None:
    env = {k: str(v) for k, v in flink_conf.settings_env(config).items()}
    proc = eo.python([str(Path(__file__).with_name("export_run.py")), str(run_dir / "var"),
                      str(run_dir / "tables.json")], env, run_dir / "export.log")
    eo.finish(proc, run_dir / "export.log", f"export {run_dir.name}")


def main(work: Path, events: int, seed: int, without_late: bool = False) -> dict[str, Any]:
    started = time.monotonic()
    result: dict[str, Any] = {"netns": netns.in_private_netns(), "events": events, "seed": seed}
    timings: dict[str, float] = {}
    result["timings_s"] = timings
    lines, dropped = input_lines(work, events, seed, without_late)
    result["hours_late_left_out"] = dropped
    records = records_of(lines)
    with (work / "records.jsonl").open("w") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")
    result["records"] = len(records)
    result["records_per_partition"] = [sum(1 for p, _, _ in records if p == i) for i in range(PARTITIONS)]
    timings["generate"] = round(time.monotonic() - started, 1)
    broker = kafka_broker.start(work / "kafka")
    try:
        kafka.ensure_topic(broker.bootstrap, TOPIC, partitions=PARTITIONS)
        cluster_var = work / "cluster"
        cs = settings.load({"NETPULSE_VAR_DIR": str(cluster_var)})
        conf_dir = cluster_var / "test-conf"
        flink_conf.render_conf(cluster_var, conf_dir, overrides=eo.CONF_OVERRIDES)
        os.environ["FLINK_CONF_DIR"] = str(conf_dir)
        release = releases.make_release(cs)
        for run in ("scenario", "reference"):
            proc = eo.python(["-m", "jobs", "migrate"], {"NETPULSE_VAR_DIR": str(work / run / "var")},
                             work / run / "migrate.log")
            eo.finish(proc, work / run / "migrate.log", f"migrate {run}")
        timings["cluster_start"] = round(lifecycle.start_cluster(cs), 1)
        try:
            drill = Drill(work, broker, records, cs, release, seed)
            try:
                result["scenario"] = drill.run()
            finally:
                result.setdefault("scenario", {"steps": drill.steps, "failed": True})
            timings["scenario"] = result["scenario"]["seconds"]
            export(work / "scenario", drill.settings)
            result["reference"] = run_reference(work, broker.bootstrap, releases.project_target(JOB, release))
            timings["reference"] = result["reference"]["seconds"]
            export(work / "reference", job_settings(work / "reference" / "var", broker.bootstrap,
                                                    "netpulse-eo-reference"))
        finally:
            try:
                timings["cluster_stop"] = round(lifecycle.stop_cluster(cs), 1)
            except flink_dist.ClusterError:
                # A loaded machine can make stop-cluster.sh time out: end what it started, so the
                # network namespace (alive while any process in it is) goes away with the test.
                for pid in lifecycle.taskmanager_pids(cs) + lifecycle._daemon_pids(flink_dist.ClusterPaths.of(cs)):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                raise
            finally:
                os.environ.pop("FLINK_CONF_DIR", None)
    finally:
        broker.stop()
    timings["total"] = round(time.monotonic() - started, 1)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--without-late", action="store_true",
                        help="leave out the generator's hours-late deliveries (docs/reliability.md)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    result = main(args.work.resolve(), args.events, args.seed, args.without_late)
    print("RESULT " + json.dumps(result), flush=True)
