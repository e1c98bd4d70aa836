from jobs import flink_sql
from jobs.naap import catalog
from jobs.tor import catalog as tor_catalog


def test_every_metric_defined_once_with_unit_and_category() -> None:
    names = [m.name for m in catalog.CATALOG]
    assert len(names) == len(set(names))
    assert "prompt_to_first_frame_latency" in names and "jitter_coefficient" in names
    for m in catalog.LATENCIES:
        assert m.unit == "ms" and m.start_edge in catalog.EDGES and m.end_edge in catalog.EDGES
        assert m.start_edge != m.end_edge


def test_markdown_table_lists_every_metric() -> None:
    table = catalog.markdown_table()
    for m in catalog.CATALOG:
        assert f"| `{m.name}` | {m.category} | {m.unit} |" in table


def test_interval_literals() -> None:
    assert flink_sql.seconds(5) == "INTERVAL '0 00:00:05' DAY TO SECOND"
    assert flink_sql.seconds(600) == "INTERVAL '0 00:10:00' DAY TO SECOND"
    assert flink_sql.seconds(90061) == "INTERVAL '1 01:01:01' DAY TO SECOND"


def test_readme_catalog_is_generated_from_the_catalog() -> None:
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- catalog:start -->\n", 1)[1].split("<!-- catalog:end -->", 1)[0]
    assert section.strip() == catalog.markdown_table(), "README catalog is stale: paste `python -m jobs catalog`"


def test_tor_metrics_catalog() -> None:
    from udfs.tor_metrics import METRICS_VERSION

    names = [m.name for m in tor_catalog.TOR_CATALOG]
    assert len(names) == len(set(names)) and not set(names) & {m.name for m in catalog.CATALOG}
    assert all(m.version == METRICS_VERSION for m in tor_catalog.TOR_CATALOG)
    assert {"guard_probability", "middle_probability", "exit_probability", "cw_fraction"} <= set(names)
    assert all("Onionoo" in m.definition for m in tor_catalog.TOR_RELAY_METRICS[:4])


def test_readme_tor_catalog_is_generated_from_the_catalog() -> None:
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- tor-catalog:start -->\n", 1)[1].split("<!-- tor-catalog:end -->", 1)[0]
    assert section.strip() == tor_catalog.tor_markdown_table(), "README Tor catalog is stale: paste `python -m jobs catalog`"

def test_every_latency_compares_like_with_like() -> None:
    """Catalog version 2: one clock, or a cross-host leg with clock evidence (attempt scope, an
    end of a segment with an end); never the start of a segment against anything."""
    for m in catalog.LATENCIES:
        start, end = catalog.EDGE_INFO[m.start_edge], catalog.EDGE_INFO[m.end_edge]
        assert catalog.SEGMENT_START not in (start.moment, end.moment), m.name
        assert start.moment == catalog.INSTANT or start.moment == end.moment, m.name
        assert end.moment != catalog.INSTANT, m.name
        if start.clock != end.clock:
            assert m.is_cross_host and m.scope == catalog.ATTEMPT_SCOPE and "relay_offset" in m.definition, m.name
        # both edges, with clock and moment, are named in the entry (and so in the README)
        for edge in (start, end):
            assert f"`{edge.name}` ({edge.clock} clock, {edge.moment.replace('_', ' ')})" in m.definition, m.name
        # an attempt metric uses only edges its orchestrator emits
        if m.scope == catalog.ATTEMPT_SCOPE:
            assert catalog.REQUEST not in (m.start_edge, m.end_edge), m.name
        assert m.version == 2


def test_removed_metrics_are_documented_not_defined() -> None:
    assert set(catalog.REMOVED) == {"runner_processing_latency", "runner_to_gateway_latency"}
    assert not set(catalog.REMOVED) & set(catalog.BY_NAME)
    table = catalog.markdown_table()
    for name, why in catalog.REMOVED.items():
        assert f"| `{name}` | {why} |" in table
    for edge in catalog.EDGE_INFO.values():
        assert f"| `{edge.name}` | {edge.clock} |" in table
