"""Flink's log configuration, without secrets: what keeps credentials out of the logs.

Flink masks configuration keys that look secret (``s3.secret-key: ******``), but the Python
workers' environment is logged whole: Beam (PyFlink's Python runtime) logs the environment it
starts workers with, every variable of the TaskManager included, when it closes it
(``DefaultJobBundleFactory``: "Closing environment urn: beam:env:process:v1 payload: ...",
at INFO, and at WARN when the cleanup fails). That dump carries ``NETPULSE_CLICKHOUSE_PASSWORD``
and ``NETPULSE_S3_SECRET_KEY``, which the workers need (they write to ClickHouse and S3).

A log4j2 filter on every appender drops those messages, whatever their logger; the lifecycle
of Python environments is still logged by the other Beam and PyFlink messages. It is added to
every ``log4j*.properties`` of a rendered configuration (jobs/ops/flink_conf.py: the local cluster
and the image) and, for local runs, to a copy of the wheel's ``log4j-cli.properties`` that the
PyFlink gateway (whose JVM hosts the MiniCluster) is pointed at through ``LOG4J_PROPERTIES``.

On the appenders, not context-wide: a context-wide filter runs before the level check, on
every logging call, disabled ones included, and Flink's operators make TRACE calls per record.
Measured with JFR on a BATCH run of 1M events: the regex of a context-wide filter took 47% of
the CPU of the source task. An appender's filter sees only the messages that are written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from jobs.ops.flink_dist import flink_home

MARKER = "# netpulse: no secrets in the logs"
# Beam's dump of a Python worker environment (its environment variables), and any message that
# names a NETPULSE secret variable. No backslashes: a .properties file would drop them.
SECRET_MESSAGES = r"(?s).*(beam:env:process|NETPULSE_[A-Z0-9_]*(PASSWORD|SECRET)).*"  # noqa: S105 - a pattern
APPENDER = re.compile(r"^appender\.([A-Za-z0-9_-]+)\.type\s*=", re.M)


def secret_filter(properties: str) -> str:
    """The lines that add the filter to every appender ``properties`` defines."""
    lines = [
        f"{MARKER} (jobs/ops/flink_logs.py): Beam logs each Python worker environment whole, environment",
        '# variables and their values included (DefaultJobBundleFactory, "Closing environment ...").',
    ]
    for name in dict.fromkeys(APPENDER.findall(properties)):
        prefix = f"appender.{name}.filter.netpulse_secrets"
        lines += [
            f"{prefix}.type = RegexFilter",
            f"{prefix}.regex = {SECRET_MESSAGES}",
            f"{prefix}.onMatch = DENY",
            f"{prefix}.onMismatch = NEUTRAL",
        ]
    return "\n" + "\n".join(lines) + "\n"


def _protected(properties: str) -> str:
    return properties.rstrip("\n") + "\n" + secret_filter(properties)


LOCAL_PROPERTIES = "log4j-cli.properties"


def protect(conf_dir: Path) -> list[Path]:
    """Add the filter to every ``log4j*.properties`` in ``conf_dir`` (idempotent); returns them."""
    patched = []
    for path in sorted(conf_dir.glob("log4j*.properties")):
        text = path.read_text()
        if MARKER not in text:
            path.write_text(_protected(text))
        patched.append(path)
    return patched


def local_properties(var_dir: Path) -> Path:
    """The wheel's ``log4j-cli.properties`` with the filter, under ``var_dir/flink-log-conf``."""
    target = var_dir / "flink-log-conf" / LOCAL_PROPERTIES
    target.parent.mkdir(parents=True, exist_ok=True)
    source = flink_home() / "conf" / LOCAL_PROPERTIES
    text = source.read_text() if source.exists() else ""
    if not target.exists() or target.read_text() != _protected(text):
        target.write_text(_protected(text))
    return target


def use_for_local_runs(var_dir: Path) -> None:
    """Point the PyFlink gateway at the filtered configuration, unless one is set already.

    Effective only before the gateway JVM starts (the first PyFlink call of the process).
    """
    if "LOG4J_PROPERTIES" not in os.environ:
        os.environ["LOG4J_PROPERTIES"] = str(local_properties(var_dir))
