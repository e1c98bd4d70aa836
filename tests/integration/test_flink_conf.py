"""flink-conf/config.yaml and its rendering into a runnable conf dir (jobs.ops.flink_conf.render_conf)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from jobs.ops import flink_conf, flink_dist, savepoints

VAR = Path("/srv/netpulse/var")
PY = "/opt/venv/bin/python"


@pytest.fixture(scope="module")
def conf() -> dict[str, object]:
    return flink_conf.load_conf(VAR, python=PY)


def test_template_is_valid_yaml_with_tokens_only_where_expected() -> None:
    text = flink_conf.CONF_TEMPLATE.read_text()
    tree = yaml.safe_load(text.replace("@VAR_DIR@", "/x").replace("@PYTHON@", "/py"))
    assert isinstance(tree, dict)
    assert "flink-conf.yaml" not in str(flink_conf.CONF_TEMPLATE)  # Flink 2.x reads only config.yaml


def test_everything_binds_loopback(conf: dict[str, object]) -> None:
    for key in (
        "jobmanager.bind-host",
        "jobmanager.rpc.address",
        "taskmanager.bind-host",
        "taskmanager.host",
        "rest.address",
        "rest.bind-address",
    ):
        assert conf[key] == "127.0.0.1", key


def test_checkpointing_exactly_once_and_retained(conf: dict[str, object]) -> None:
    assert conf["execution.checkpointing.interval"] == "10 s"
    assert conf["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert (
        conf["execution.checkpointing.externalized-checkpoint-retention"]
        == "RETAIN_ON_CANCELLATION"
    )
    assert conf["state.backend.type"] == "hashmap"


def test_state_dirs_are_absolute_under_var(conf: dict[str, object]) -> None:
    assert conf["execution.checkpointing.dir"] == f"file://{VAR}/flink-checkpoints"
    assert conf["execution.checkpointing.savepoint-dir"] == f"file://{VAR}/flink-savepoints"
    assert conf["env.pid.dir"] == f"{VAR}/flink-run"
    assert conf["io.tmp.dirs"] == f"{VAR}/flink-tmp"


def test_restart_strategy_and_memory(conf: dict[str, object]) -> None:
    assert conf["restart-strategy.type"] == "exponential-delay"
    assert conf["jobmanager.memory.process.size"] == "1024m"
    assert conf["taskmanager.memory.process.size"] == "2560m"
    assert conf["taskmanager.numberOfTaskSlots"] == 2


def test_settings_that_decide_savepoint_compatibility_are_fixed(conf: dict[str, object]) -> None:
    assert conf["table.exec.uid.generation"] == "PLAN_ONLY"
    assert conf["python.operator-chaining.enabled"] is True
    assert conf["table.local-time-zone"] == "UTC"


def test_python_interpreter_is_filled_in(conf: dict[str, object]) -> None:
    assert conf["python.executable"] == PY
    assert conf["python.client.executable"] == PY
    assert "@" not in "".join(str(v) for v in conf.values()).replace("ALL-UNNAMED", "")


def test_java17_flags_are_kept(conf: dict[str, object]) -> None:
    assert "--add-opens=java.base/java.util=ALL-UNNAMED" in str(conf["env.java.opts.all"])


def test_relative_var_dir_is_refused() -> None:
    with pytest.raises(flink_dist.ClusterError, match="relative"):
        flink_conf.load_conf(Path("var"), python=PY)


def test_unknown_token_is_refused(tmp_path: Path) -> None:
    template = tmp_path / "config.yaml"
    template.write_text("a: '@NOPE@'\n")
    with pytest.raises(flink_dist.ClusterError, match="@NOPE@"):
        flink_conf.load_conf(VAR, python=PY, template=template)


def test_render_writes_a_complete_conf_dir(tmp_path: Path) -> None:
    var = tmp_path / "var"
    out = flink_conf.render_conf(var, tmp_path / "conf", python=PY, overrides={"rest.port": 18081})
    rendered = yaml.safe_load(out.read_text())
    assert rendered["rest.port"] == 18081
    assert rendered["execution.checkpointing.dir"] == f"file://{var}/flink-checkpoints"
    for name in (
        "log4j.properties",
        "log4j-cli.properties",
        "log4j-console.properties",
        "masters",
        "workers",
    ):
        assert (tmp_path / "conf" / name).is_file(), name
    assert (tmp_path / "conf" / "masters").read_text().strip() == "127.0.0.1:18081"
    for sub in ("flink-log", "flink-run", "flink-checkpoints", "flink-savepoints"):
        assert (var / sub).is_dir()
    # Every log configuration drops Beam's dumps of the workers' environment (secrets).
    for path in (tmp_path / "conf").glob("log4j*.properties"):
        text = path.read_text()
        appenders = set(re.findall(r"^appender\.(\w+)\.type", text, re.M))
        assert appenders, path
        for name in appenders:
            assert text.count(f"appender.{name}.filter.netpulse_secrets.type = RegexFilter") == 1, path
        # not context-wide: such a filter runs on every logging call, disabled ones included
        assert not re.search(r"^filter\.", text, re.M), path


def test_secret_filter_is_added_once_and_matches_the_environment_dump(tmp_path: Path) -> None:
    from jobs.ops import flink_logs

    base = "rootLogger.level = INFO\nappender.main.name = MainAppender\nappender.main.type = RollingFile\n"
    (tmp_path / "log4j.properties").write_text(base)
    (tmp_path / "log4j-console.properties").write_text(base + "appender.console.type = CONSOLE\n")
    assert len(flink_logs.protect(tmp_path)) == 2
    flink_logs.protect(tmp_path)  # a second render does not add it twice
    text = (tmp_path / "log4j.properties").read_text()
    assert text.count(flink_logs.MARKER) == 1 and text.startswith(base)
    assert text.count("appender.main.filter.netpulse_secrets.regex = ") == 1
    console = (tmp_path / "log4j-console.properties").read_text()
    assert "appender.console.filter.netpulse_secrets.onMatch = DENY" in console
    # A .properties file drops backslashes: the pattern must not need any.
    assert "\\" not in flink_logs.SECRET_MESSAGES
    # Java's Pattern and Python's re agree on this pattern; Beam's message, as logged.
    pattern = re.compile(flink_logs.SECRET_MESSAGES)
    dump = 'Closing environment urn: "beam:env:process:v1"\npayload: "\\n\\026NETPULSE_S3_SECRET_KEY\\022\\024x"'
    assert pattern.fullmatch(dump)
    assert pattern.fullmatch("env NETPULSE_CLICKHOUSE_PASSWORD=x")
    assert not pattern.fullmatch("Loading configuration property: s3.secret-key, ******")
    assert not pattern.fullmatch("Job naap switched from state RUNNING to FINISHED.")


def test_config_only_render_for_the_image(tmp_path: Path) -> None:
    out = flink_conf.render_conf(VAR, tmp_path, python=PY, logging_files=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    # The image's own log files, already in the directory, get the secret filter.
    (tmp_path / "log4j-console.properties").write_text("rootLogger.level = INFO\nappender.console.type = CONSOLE\n")
    flink_conf.render_conf(VAR, tmp_path, python=PY, logging_files=False)
    assert "appender.console.filter.netpulse_secrets" in (tmp_path / "log4j-console.properties").read_text()


@pytest.mark.slow
def test_flink_itself_reads_the_rendered_config(tmp_path: Path) -> None:
    from pyflink.java_gateway import get_gateway

    flink_conf.render_conf(tmp_path / "var", tmp_path / "conf", python=PY, logging_files=False)
    jvm = get_gateway().jvm
    loaded = jvm.org.apache.flink.configuration.GlobalConfiguration.loadConfiguration(
        str(tmp_path / "conf")
    )
    values = dict(loaded.toMap())
    assert values["execution.checkpointing.interval"] == "10 s"
    assert values["rest.bind-address"] == "127.0.0.1"
    assert values["table.exec.uid.generation"] == "PLAN_ONLY"
    assert values["execution.checkpointing.dir"].startswith("file:///")


S3_ENV = {
    "NETPULSE_FLINK_CHECKPOINT_DIR": "s3://state/checkpoints",
    "NETPULSE_FLINK_SAVEPOINT_DIR": "s3://state/savepoints",
    "NETPULSE_S3_ENDPOINT": "http://127.0.0.1:8333",
    "NETPULSE_S3_ACCESS_KEY": "key",
    "NETPULSE_S3_SECRET_KEY": "secret",
}


def test_state_on_s3_is_rendered_with_endpoint_path_style_and_credentials(tmp_path: Path) -> None:
    from jobs import settings

    s = settings.load({"NETPULSE_VAR_DIR": str(tmp_path / "var"), **S3_ENV})
    out = flink_conf.render_conf(
        tmp_path / "var", tmp_path / "conf", python=PY, overrides=flink_conf.state_overrides(s),
        logging_files=False,
    )
    rendered = yaml.safe_load(out.read_text())
    assert rendered["execution.checkpointing.dir"] == "s3://state/checkpoints"
    assert rendered["execution.checkpointing.savepoint-dir"] == "s3://state/savepoints"
    assert rendered["s3.endpoint"] == "http://127.0.0.1:8333"
    assert rendered["s3.path.style.access"] is True
    assert (rendered["s3.access-key"], rendered["s3.secret-key"]) == ("key", "secret")
    assert out.stat().st_mode & 0o077 == 0  # credentials: readable by the owner only
    # The savepoints `stop` takes go under the S3 savepoint dir, one folder per job.
    assert savepoints._savepoint_uri(tmp_path / "tor_relays", s) == "s3://state/savepoints/tor_relays"  # noqa: SLF001


def test_local_state_renders_nothing_and_savepoints_stay_under_var(tmp_path: Path) -> None:
    from jobs import settings

    s = settings.load({"NETPULSE_VAR_DIR": str(tmp_path / "var")})
    assert flink_conf.state_overrides(s) == {}
    assert savepoints._savepoint_uri(tmp_path / "naap", s) == f"file://{tmp_path}/naap"  # noqa: SLF001


def test_state_dir_that_is_neither_s3_nor_file_is_refused() -> None:
    from jobs import settings

    with pytest.raises(settings.SettingsError, match="NETPULSE_FLINK_CHECKPOINT_DIR"):
        settings.load({"NETPULSE_FLINK_CHECKPOINT_DIR": "/var/checkpoints"})


def test_plugins_dir_holds_the_locked_s3_plugin_and_the_bundled_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs import settings
    from jobs.ops import jars

    monkeypatch.delenv(flink_dist.FLINK_HOME_ENV, raising=False)
    locked = jars.paths(flink_conf.S3_PLUGIN_SET)
    if not all(p.exists() for p in locked):
        pytest.skip("the flink-s3 jar set is not fetched (python -m jobs.ops.jars fetch flink-s3)")
    s = settings.load({"NETPULSE_VAR_DIR": str(tmp_path / "var"), **S3_ENV})
    root = flink_conf.ensure_plugins(s)
    assert root == tmp_path / "var" / "flink-plugins"
    plugin = sorted((root / flink_conf.S3_PLUGIN_DIR).iterdir())
    assert [p.name for p in plugin] == [p.name for p in locked]
    assert jars.sha256_of(plugin[0]) == jars.get(flink_conf.S3_PLUGIN_SET).jars[0].sha256
    bundled = sorted(p.name for p in (flink_dist.flink_home() / "plugins").iterdir() if p.is_dir())
    assert set(bundled) <= {p.name for p in root.iterdir()}
    env = flink_conf.flink_env(s)
    assert env["FLINK_PLUGINS_DIR"] == str(root)
