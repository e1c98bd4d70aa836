"""Export every NaaP table of a finished run as JSON, in a process of its own.

chDB allows one process per database directory: the job's Python worker held the run's
database while the job ran, so this runs after the job stopped and retries briefly while the
worker process is still shutting down. Usage: ``python tests/cluster/export_run.py VAR_DIR OUT``
(settings from ``NETPULSE_*``; ``NETPULSE_VAR_DIR`` must be VAR_DIR).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline_run import export  # noqa: E402

from jobs import settings  # noqa: E402


def main(export_tables: Callable[[settings.Settings, Path], None] = export) -> int:
    """Export the tables of ``argv[1]``'s database to ``argv[2]``, retrying while the job's
    worker still holds the embedded database's lock (tests/cluster/tor_export.py reuses it)."""
    var_dir, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    config = settings.load()
    assert config.var_dir == var_dir, (config.var_dir, var_dir)
    deadline = time.monotonic() + 60
    while True:
        try:
            export_tables(config, out)
            return 0
        except Exception as exc:  # noqa: BLE001 - "Cannot lock file" while the worker exits
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
