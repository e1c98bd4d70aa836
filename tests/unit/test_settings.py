import os
from pathlib import Path

import pytest

from jobs import settings


def test_defaults_are_embedded_under_var(tmp_path: Path) -> None:
    s = settings.load({"NETPULSE_VAR_DIR": str(tmp_path)})
    assert s.clickhouse_url == f"chdb://{tmp_path / 'clickhouse'}"
    assert s.is_embedded and s.chdb_path == tmp_path / "clickhouse"
    assert s.parquet_url == str(tmp_path / "parquet")
    assert s.input_path == tmp_path / "input"
    assert s.retention_days == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NETPULSE_ALLOWED_LATENESS_S": "soon"}, "NETPULSE_ALLOWED_LATENESS_S='soon' is not a whole number"),
        ({"NETPULSE_PARALLELISM": "-1"}, "NETPULSE_PARALLELISM=-1 is below 0"),
        ({"NETPULSE_SOURCE": "pulsar"}, "NETPULSE_SOURCE='pulsar': expected one of"),
        ({"NETPULSE_CLICKHOUSE_URL": "tcp://x:9000"}, "expected chdb:///abs/dir or http"),
        ({"NETPULSE_CLICKHOUSE_URL": "chdb://relative/dir"}, "must be absolute"),
        ({"NETPULSE_PARQUET_URL": "s3://b/p"}, "NETPULSE_S3_ENDPOINT is not set"),
        ({"NETPULSE_WRITER_PARALLELISM": "2"}, "must be 1 with the embedded engine"),
    ],
)
def test_bad_values_fail_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(settings.SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        settings.load(env)


def test_server_url_allows_parallel_writers() -> None:
    s = settings.load({"NETPULSE_CLICKHOUSE_URL": "http://ch:8123", "NETPULSE_WRITER_PARALLELISM": "4"})
    assert not s.is_embedded and s.writer_parallelism == 4


def test_automatic_parallelism_uses_the_cores_for_bounded_runs_only() -> None:
    bounded = settings.load({})
    assert bounded.is_batch and bounded.effective_parallelism == min(os.cpu_count() or 1, 4)
    watched = settings.load({"NETPULSE_MONITOR_INTERVAL_S": "5"})
    assert not watched.is_batch and watched.effective_parallelism == 1
    assert settings.load({"NETPULSE_PARALLELISM": "3"}).effective_parallelism == 3
