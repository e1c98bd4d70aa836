import ast
import dataclasses
import os
import re
from pathlib import Path

import pytest

from jobs import settings
from jobs.settings import PROJECT_ROOT, Settings


def test_defaults_are_embedded_under_var(tmp_path: Path) -> None:
    s = settings.load({"NETPULSE_VAR_DIR": str(tmp_path)})
    assert s.clickhouse_url == f"chdb://{tmp_path / 'clickhouse'}"
    assert s.is_embedded and s.chdb_path == tmp_path / "clickhouse"
    assert s.parquet_url == str(tmp_path / "parquet")
    assert s.input_path == tmp_path / "input"
    assert s.retention_days == 0
    assert s.state_ttl_s == 86_400
    assert settings.load({"NETPULSE_STATE_TTL_S": "0"}).state_ttl_s == 0  # kept forever



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
        ({"NETPULSE_STATE_TTL_S": "30"}, "NETPULSE_STATE_TTL_S=30: below 60 s"),
        ({"NETPULSE_STATE_TTL_S": "-1"}, "NETPULSE_STATE_TTL_S=-1 is below 0"),
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


def _settings_section() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text()
    return readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]


def _mentioned_variables() -> dict[str, set[str]]:
    """NETPULSE_* name -> the files of jobs/, udfs/, bench/, scripts/ and the stack naming it."""
    found: dict[str, set[str]] = {}
    paths = [
        *(p for d in ("jobs", "udfs", "bench", "scripts", "docker") for p in (PROJECT_ROOT / d).rglob("*")),
        PROJECT_ROOT / "docker-compose.yml",
        PROJECT_ROOT / ".env.example",
    ]
    for path in paths:
        if path.is_file() and path.suffix in (".py", ".sh", ".yml", ".yaml", ".example", ""):
            for name in re.findall(r"NETPULSE_([A-Z0-9_]*[A-Z0-9])", path.read_text(errors="replace")):
                found.setdefault(name, set()).add(str(path.relative_to(PROJECT_ROOT)))
    return found


def test_every_variable_is_listed_in_the_readme() -> None:
    section = _settings_section()
    listed = set(re.findall(r"`([A-Z0-9_]+)`", section))
    mentioned = _mentioned_variables()
    missing = {name: sorted(files) for name, files in mentioned.items() if name not in listed}
    assert missing == {}, "document these NETPULSE_* variables in README.md, ## Settings"
    fields = {f.name.upper() for f in dataclasses.fields(Settings) if f.name not in ("extra", "token_salt")}
    assert fields - listed == set()


def test_only_the_settings_module_reads_the_variables() -> None:
    """No module but jobs/settings.py takes a NETPULSE_* value from the environment."""
    readers = []
    for package in ("jobs", "udfs"):
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            if path.name == "settings.py" and path.parent.name == "jobs":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                # os.environ[...] / os.environ.get(...) / os.getenv(...) with a NETPULSE_ literal
                if isinstance(node, ast.Subscript | ast.Call):
                    text = ast.unparse(node)
                    if ("environ" in text or "getenv" in text) and "'NETPULSE_" in text:
                        readers.append(f"{path.relative_to(PROJECT_ROOT)}: {text}")
    assert readers == []


def test_state_ttl_applies_to_streaming_runs_only() -> None:
    from jobs import runtime

    watched = {"NETPULSE_MONITOR_INTERVAL_S": "5"}
    assert runtime.state_options(settings.load(watched)) == {"table.exec.state.ttl": "86400 s"}
    assert runtime.state_options(settings.load({**watched, "NETPULSE_STATE_TTL_S": "3600"})) == {
        "table.exec.state.ttl": "3600 s"
    }
    assert runtime.state_options(settings.load({**watched, "NETPULSE_STATE_TTL_S": "0"})) == {}
    assert runtime.state_options(settings.load({})) == {}  # a bounded BATCH run keeps no state between runs
