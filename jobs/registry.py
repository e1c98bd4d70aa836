"""Every pipeline by name: what ``jobs list`` prints, ``jobs run`` runs and the cluster submits.

A pipeline is one Flink job (jobs/contract.py): a source and the jobs that read it. The NaaP
pipelines share the gateway source; ``naap`` runs both NaaP jobs over one read of it.
"""

from __future__ import annotations

from jobs.contract import Job, Pipeline, StreamPart
from jobs.naap import ingest as naap_ingest
from jobs.naap import metrics as naap_metrics
from jobs.naap import source as naap_source
from jobs.tor import relays as tor_relays
from jobs.tor import source as tor_source

NAAP_INGEST = Job(
    naap_ingest.NAME,
    naap_ingest.build,
    StreamPart(attach=naap_ingest.attach_streams, rows=(naap_ingest.CAPABILITY_ROWS,)),
)
NAAP_METRICS = Job(naap_metrics.NAME, naap_metrics.build)
TOR_RELAYS = Job(
    tor_relays.NAME,
    tor_relays.build,
    StreamPart(attach=tor_relays.attach, view=tor_source.RECORDS_VIEW),
)

PIPELINES: dict[str, Pipeline] = {
    p.name: p
    for p in (
        Pipeline("naap", naap_source.SOURCE, (NAAP_INGEST, NAAP_METRICS)),
        Pipeline("naap_ingest", naap_source.SOURCE, (NAAP_INGEST,)),
        Pipeline("naap_metrics", naap_source.SOURCE, (NAAP_METRICS,)),
        Pipeline(
            tor_relays.NAME, tor_source.SOURCE, (TOR_RELAYS,), "Tor directory documents, docs/tor.md"
        ),
    )
}


def get(name: str) -> Pipeline:
    """The pipeline called ``name``.

    Raises:
        ValueError: no such pipeline (the message lists the names).
    """
    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; choose one of {sorted(PIPELINES)}")
    return PIPELINES[name]
