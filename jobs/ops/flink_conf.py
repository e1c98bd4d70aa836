"""The Flink configuration of a run: rendered from flink-conf/config.yaml, plugins, environment."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from jobs import settings as settings_module
from jobs.ops import flink_logs
from jobs.ops.flink_dist import ClusterError, ClusterPaths, flink_home, python_executable
from jobs.settings import PROJECT_ROOT, Settings

CONF_TEMPLATE = PROJECT_ROOT / "flink-conf" / "config.yaml"


def flatten_conf(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config.yaml mapping -> flat ``a.b.c`` keys (how Flink itself reads them)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_conf(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def load_conf(
    var_dir: Path,
    *,
    python: str | None = None,
    template: Path = CONF_TEMPLATE,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The project's Flink config with the template tokens filled in, as flat keys.

    Args:
        var_dir: absolute root for checkpoints, savepoints, logs, pid and tmp files.
        python: interpreter for ``python.executable`` / ``python.client.executable``.
        template: the project's config.yaml with ``@VAR_DIR@`` and ``@PYTHON@`` tokens.
        overrides: flat keys that replace template values (e.g. ``rest.port``).
    """
    var_dir = Path(var_dir)
    if not var_dir.is_absolute():
        raise ClusterError(f"var_dir={var_dir!s} is relative; Flink needs absolute directories")
    text = template.read_text()
    text = text.replace("@VAR_DIR@", str(var_dir)).replace(
        "@PYTHON@", python or python_executable()
    )
    leftover = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if leftover:
        raise ClusterError(
            f"{template}: unknown template tokens {leftover}; fill them in load_conf"
        )
    flat = flatten_conf(yaml.safe_load(text))
    flat.update(overrides or {})
    return flat


def render_conf(
    var_dir: Path,
    out_dir: Path,
    *,
    python: str | None = None,
    template: Path = CONF_TEMPLATE,
    overrides: Mapping[str, Any] | None = None,
    logging_files: bool = True,
) -> Path:
    """Write a runnable Flink conf dir: config.yaml with absolute paths (+ the wheel's log files).

    The output uses flat keys (``execution.checkpointing.dir: ...``), which Flink 2.x reads like
    the nested form, so overrides can never collide with a nested duplicate.

    Args:
        var_dir: absolute root for checkpoints, savepoints, logs, pid and tmp files.
        out_dir: the directory to write (``FLINK_CONF_DIR``).
        python: interpreter for the Flink Python client and workers (default: this venv's).
        template: the project's config.yaml.
        overrides: flat keys that replace template values.
        logging_files: also copy log4j/logback files and write masters/workers (local cluster).

    Returns:
        The path of the written config.yaml.
    """
    flat = load_conf(var_dir, python=python, template=template, overrides=overrides)
    out_dir.mkdir(parents=True, exist_ok=True)
    conf = out_dir / "config.yaml"
    header = f"# Generated from {template.name} by jobs.ops.flink_conf.render_conf; edit the template.\n"
    conf.write_text(header + yaml.safe_dump(flat, sort_keys=True, width=100_000))
    if "s3.secret-key" in flat:
        conf.chmod(0o600)  # holds the S3 credentials of the checkpoint store
    if logging_files:
        wheel_conf = flink_home() / "conf"
        for source in sorted(wheel_conf.glob("log*")):
            shutil.copyfile(source, out_dir / source.name)
        rest_port = flat.get("rest.port", 8081)
        (out_dir / "masters").write_text(f"127.0.0.1:{rest_port}\n")
        (out_dir / "workers").write_text("127.0.0.1\n")
        for sub in ("flink-log", "flink-run", "flink-tmp", "flink-checkpoints", "flink-savepoints"):
            (Path(var_dir) / sub).mkdir(parents=True, exist_ok=True)
    # Beam logs the Python workers' environment (secrets included): filtered out. With
    # --config-only (the image) the files are the distribution's own in out_dir.
    flink_logs.protect(out_dir)
    return conf


def ensure_conf(settings: Settings) -> None:
    """Render var/flink-conf for the CLI when no FLINK_CONF_DIR is given and none exists yet."""
    paths = ClusterPaths.of(settings)
    if not os.environ.get("FLINK_CONF_DIR") and not (paths.conf_dir / "config.yaml").exists():
        render_conf(paths.var_dir, paths.conf_dir, overrides=state_overrides(settings))


S3_PLUGIN_SET = "flink-s3"  # jars.lock: Flink's S3 filesystem plugin (Presto-based)
S3_PLUGIN_DIR = "s3-fs-presto"  # its folder under plugins/, as in Flink's distribution


def state_on_s3(settings: Settings) -> bool:
    """True when checkpoints or savepoints go to an ``s3://`` URL."""
    return any(
        url.startswith("s3://")
        for url in (settings.flink_checkpoint_dir, settings.flink_savepoint_dir)
    )


def state_overrides(settings: Settings) -> dict[str, Any]:
    """Flat config keys for where checkpoints and savepoints go (and how S3 is reached).

    Empty when both directories are the template's ``file://`` folders under ``var_dir``. For
    ``s3://`` directories: the S3 filesystem plugin's endpoint, path-style requests (MinIO and
    SeaweedFS serve buckets as paths, not as host names) and credentials, from the ``s3_*``
    settings that the Parquet output uses too.
    """
    out: dict[str, Any] = {}
    if settings.flink_checkpoint_dir:
        out["execution.checkpointing.dir"] = settings.flink_checkpoint_dir
    if settings.flink_savepoint_dir:
        out["execution.checkpointing.savepoint-dir"] = settings.flink_savepoint_dir
    if state_on_s3(settings):
        if settings.s3_endpoint:
            out["s3.endpoint"] = settings.s3_endpoint
            out["s3.path.style.access"] = True
        if settings.s3_access_key:
            out["s3.access-key"] = settings.s3_access_key
            out["s3.secret-key"] = settings.s3_secret_key
    return out


def ensure_plugins(settings: Settings) -> Path | None:
    """The plugins folder of the local cluster: the distribution's own plus the S3 filesystem.

    Flink loads filesystems from ``plugins/<name>/`` of the distribution it runs. The wheel's
    distribution lives in the shared venv, which is not edited: ``var/flink-plugins/`` holds a
    link to each of the wheel's plugin folders and ``s3-fs-presto/`` with the jar of jars.lock
    (sha256-checked; fetched with Maven when state is on S3 and the jar is missing), and
    ``FLINK_PLUGINS_DIR`` points every Flink process there. A distribution named by
    ``NETPULSE_FLINK_HOME`` (the image's /opt/flink, whose Dockerfile installs the same jar)
    keeps its own plugins/: returns None.
    """
    if settings_module.flink_home_override():
        return None
    from jobs.ops import jars

    jar_set = jars.get(S3_PLUGIN_SET)
    if state_on_s3(settings):
        jar_files = jars.ensure(S3_PLUGIN_SET)
    else:  # not needed: linked if already fetched, so a later restore from s3:// still works
        jar_files = [p for p in jars.paths(S3_PLUGIN_SET) if p.exists()]
        if len(jar_files) != len(jar_set.jars):
            jar_files = []
    root = ClusterPaths.of(settings).plugins
    root.mkdir(parents=True, exist_ok=True)
    bundled = flink_home() / "plugins"
    for plugin in sorted(p for p in bundled.iterdir() if p.is_dir()) if bundled.is_dir() else []:
        link = root / plugin.name
        if not link.exists():
            link.symlink_to(plugin, target_is_directory=True)
    if jar_files:
        s3_dir = root / S3_PLUGIN_DIR
        s3_dir.mkdir(exist_ok=True)
        for jar in jar_files:
            link = s3_dir / jar.name
            if not link.exists():
                link.symlink_to(jar.resolve())
    return root


_PROCESS_LOCAL_PYFLINK_VARS = (
    "PYTHON_LOOPBACK_SERVER_ADDRESS",
    "PYFLINK_GATEWAY_PORT",
    "PYFLINK_GATEWAY_DISABLED",
    "WORKER_ID",
    "PIPELINE_OPTIONS",
    "SEMI_PERSISTENT_DIRECTORY",
    "LOGGING_API_SERVICE_DESCRIPTOR",
    "CONTROL_API_SERVICE_DESCRIPTOR",
)


def flink_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for every Flink script: project conf/log/pid dirs, the venv first on PATH."""
    paths = ClusterPaths.of(settings)
    # Not inherited: a process that ran a local PyFlink job (MiniCluster) carries the address
    # of its own loopback worker pool; a cluster started with it would send every Python
    # worker of every job to that (dead) address instead of starting it.
    env = {k: v for k, v in os.environ.items() if k not in _PROCESS_LOCAL_PYFLINK_VARS}
    env.update(settings_env(settings))
    # An explicit FLINK_CONF_DIR wins (the image's /opt/flink/conf in the compose stack).
    env["FLINK_CONF_DIR"] = os.environ.get("FLINK_CONF_DIR") or str(paths.conf_dir)
    env["FLINK_LOG_DIR"] = str(paths.log_dir)
    env["FLINK_PID_DIR"] = str(paths.run_dir)
    if not os.environ.get("FLINK_PLUGINS_DIR"):
        plugins = ensure_plugins(settings)
        if plugins is not None:
            env["FLINK_PLUGINS_DIR"] = str(plugins)
    env["PATH"] = f"{Path(python_executable()).parent}{os.pathsep}{env.get('PATH', '')}"
    if extra:
        env.update(extra)
    return env


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as ``NETPULSE_*`` variables, so a submitted job sees exactly these settings.

    The job's client process (``flink run``) reads its settings from the environment; passing
    every field explicitly keeps a release copy from falling back to its own directory.
    """
    env: dict[str, str] = {}
    for f in dataclasses.fields(Settings):
        if f.name == "extra":
            continue
        value = getattr(settings, f.name)
        env[f"NETPULSE_{f.name.upper()}"] = str(value)
    return env
