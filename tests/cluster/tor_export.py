"""Export the Tor tables of a finished run as canonical JSON, in a process of its own.

chDB allows one process per database directory: the job's Python worker held the run's
database while the job ran, so this runs after the job stopped and retries briefly while the
worker is still shutting down. Usage: ``python tests/cluster/tor_export.py VAR_DIR OUT``
(settings from ``NETPULSE_*``; ``NETPULSE_VAR_DIR`` must be VAR_DIR).

OUT holds every Tor table as sorted canonical rows (tests/conftest_tor.canonical_outputs:
relay_snapshot whole, the aggregates merged and finalized, dead letters) and the counts that
show a duplicate or a loss on their own: rows, distinct (hour, fingerprint), rows per hour.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest_tor import canonical_outputs  # noqa: E402

from jobs import settings  # noqa: E402
from jobs.connectors import clickhouse  # noqa: E402

# grain: one row per consensus hour
COUNTS = """
SELECT toString(ts), count(), uniqExact(fingerprint) FROM tor.relay_snapshot GROUP BY ts ORDER BY ts
"""


def export(config: settings.Settings, out: Path) -> None:
    tables = canonical_outputs(config)
    client = clickhouse.connect(config)
    with clickhouse.lock():
        per_hour = client.query(COUNTS).result_rows
    out.write_text(
        json.dumps(
            {
                "tables": tables,
                "per_hour": [[ts, int(n), int(distinct)] for ts, n, distinct in per_hour],
            },
            sort_keys=True,
        )
    )


def main() -> int:
    from export_run import main as export_when_unlocked  # this directory: the script's own

    return export_when_unlocked(export)


if __name__ == "__main__":
    sys.exit(main())
