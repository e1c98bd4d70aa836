"""One ClickHouse client for the server and the embedded engine (clickhouse-connect + chDB).

The embedded default and production differ only in a URL: ``chdb:///abs/dir`` opens the
in-process chDB engine, ``http(s)://host:port`` a server. Tests therefore exercise the
production client code.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect

from jobs.settings import Settings

# chDB allows one database directory per process and is not safe for concurrent use from
# several threads of one process (parallel subtasks share the Python worker in local mode).
_CHDB_LOCK = threading.RLock()
_CHDB_CLIENTS: dict[str, Any] = {}


def connect(settings: Settings) -> Any:
    """Return a clickhouse-connect client for ``settings.clickhouse_url``.

    For chDB the client is cached per process: reopening another directory in the same
    process fails, and reopening the same one is needless work.
    """
    url = settings.clickhouse_url
    if settings.is_embedded:
        with _CHDB_LOCK:
            client = _CHDB_CLIENTS.get(url)
            if client is None:
                settings.chdb_path.mkdir(parents=True, exist_ok=True)
                client = clickhouse_connect.get_client(dsn=url)
                _CHDB_CLIENTS[url] = client
            return client
    parsed = urlparse(url)
    return clickhouse_connect.get_client(
        host=parsed.hostname,
        port=parsed.port or (8443 if parsed.scheme == "https" else 8123),
        secure=parsed.scheme == "https",
        username=settings.clickhouse_user,
        password=settings.clickhouse_password,
    )


def lock() -> threading.RLock:
    """The process-wide lock that serializes calls into the embedded engine."""
    return _CHDB_LOCK
