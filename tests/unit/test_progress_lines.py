"""jobs/progress.py against a stand-in for Flink's REST API (the answers' shapes as Flink 2.3
serves them: seen on a MiniCluster run of the naap pipeline)."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from jobs import progress
from jobs.settings import Settings


class FakeFlink:
    """A job whose source finished (its metrics gone, its read-records kept) and whose writer runs."""

    def __init__(self) -> None:
        self.rows = 40
        self.writer_status = "RUNNING"
        self.counters_registered = True  # a Python writer's counters appear after its first bundle

    def answer(self, path: str) -> Any:
        if path == "/jobs/overview":
            return {"jobs": [{"jid": "j1", "name": "naap", "state": "RUNNING", "start-time": 1}]}
        if path == "/jobs/j1":
            return {"state": "RUNNING", "vertices": [
                {"id": "v1", "name": "Source: gateway_source[1] -> Calc[2]", "status": "FINISHED",
                 "metrics": {"read-records": 177, "write-records": 177}},
                {"id": "v2", "name": "clickhouse+parquet batch writer -> Sink: Writer", "status": self.writer_status,
                 "metrics": {"read-records": 12, "write-records": 0}},
                {"id": "v3", "name": "dead-letter writer -> Sink: Writer", "status": "FINISHED",
                 "metrics": {"read-records": 11, "write-records": 0}},
            ]}
        if path == "/jobs/j1/vertices/v2/subtasks/metrics":
            if not self.counters_registered:
                return [{"id": "numRecordsIn"}]
            return [{"id": "numRecordsIn"}, {"id": "batch_writer.netpulse.rows_written"},
                    {"id": "batch_writer.netpulse.rejects_written"}]
        if path.startswith("/jobs/j1/vertices/v2/subtasks/metrics?get="):
            return [{"id": "batch_writer.netpulse.rows_written", "sum": float(self.rows)},
                    {"id": "batch_writer.netpulse.rejects_written", "sum": 6.0}]
        raise KeyError(path)


def _serve(fake: FakeFlink) -> tuple[HTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            try:
                body, code = json.dumps(fake.answer(self.path)).encode(), 200
            except KeyError:
                body, code = b"{}", 404
            self.send_response(code)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_a_line_from_the_job_metrics_and_counters_kept_after_the_writer_finished() -> None:
    fake = FakeFlink()
    server, url = _serve(fake)
    try:
        reporter = progress.Reporter(url, "naap", 1.0)
        first = reporter.line()
        assert first is not None and first.endswith(
            ": 177 events read (0/s), 40 rows written (12 batches), 17 rejects")  # 11 source rejects + 6 parse rejects
        fake.rows, fake.writer_status = 999, "FINISHED"  # its metrics are gone once it finished
        assert reporter.line().endswith(", 40 rows written (12 batches), 17 rejects")  # type: ignore[union-attr]
    finally:
        server.shutdown()


def test_counters_that_appear_after_the_first_poll_are_counted() -> None:
    """A STREAMING writer's Python counters reach Flink after its first bundle: not seen at the
    first poll, they must be counted once they appear (they were not: 0 rows all run long)."""
    fake = FakeFlink()
    fake.counters_registered = False
    server, url = _serve(fake)
    try:
        reporter = progress.Reporter(url, "naap", 1.0)
        assert reporter.line().endswith(", 0 rows written (12 batches), 11 rejects")  # type: ignore[union-attr]
        fake.counters_registered = True
        assert reporter.line().endswith(", 40 rows written (12 batches), 17 rejects")  # type: ignore[union-attr]
    finally:
        server.shutdown()


def test_the_reporter_thread_prints_lines_and_stops() -> None:
    server, url = _serve(FakeFlink())
    out = io.StringIO()
    try:
        with progress.report(url, "naap", 0.2, out) as reporter:
            assert reporter is not None
            while reporter.lines < 2:
                reporter.stopped.wait(0.05)
        assert out.getvalue().startswith("progress naap ")
    finally:
        server.shutdown()


class _Env:
    """The part of a StreamExecutionEnvironment that progress.runs_locally reads."""

    def __init__(self, target: str, attached: str) -> None:
        conf = {"execution.target": target, "execution.attached": attached}

        class Java:
            def getConfiguration(self) -> Any:  # noqa: N802 - the Java name
                class Conf:
                    def toMap(self) -> dict[str, str]:  # noqa: N802
                        return conf
                return Conf()

        self._j_stream_execution_environment = Java()

    def configure(self, config: Any) -> None:
        raise AssertionError("a cluster submission must keep its REST options")


def test_only_a_local_attached_run_gets_a_rest_endpoint() -> None:
    assert progress.runs_locally(_Env("local", "true"))
    # flink run -d: remote and detached; its REST options name the cluster it submits to
    assert not progress.runs_locally(_Env("remote", "false"))
    assert progress.configure(_Env("remote", "false"), Settings(progress_interval_s=2)) is None
    assert progress.configure(_Env("local", "true"), Settings(progress_interval_s=0)) is None
    assert progress.rest_options(Settings(progress_interval_s=2), 45678) == {
        "rest.address": "127.0.0.1", "rest.bind-address": "127.0.0.1", "rest.port": "45678",
        "rest.bind-port": "45678", "metrics.fetcher.update-interval": "2000 ms"}
    with progress.report(None, "naap", 5) as reporter:
        assert reporter is None
