# ruff: noqa: F811 - pytest fixtures imported from conftest_tor are parameters here
"""The tor_relays Flink job on the local MiniCluster over the real (and derived) Tor documents.

One bounded run over tests/fixtures/tor/collector is shared by the tests of this module; its
relay_snapshot rows must equal the reference computed without Flink (udfs.tor_state). The
same staged lines presented reversed (one file, parallelism 1) and shuffled (several files,
parallelism 2) must give identical rows and aggregates; a re-run over the tree plus a tor data
directory (one new consensus hour) must add only that hour's rows.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest_tor import (  # noqa: E402,F401 - fixtures
    AGGREGATES,
    COLLECTOR_TREE,
    FIXTURES,
    canonical_outputs,
    geoip_dir,
    reference_metrics,
    reference_rows,
    run_tor,
    snapshot_rows,
    tor_settings,
    truncate_tor,
)

from jobs import runtime  # noqa: E402
from jobs.connectors import clickhouse  # noqa: E402
from jobs.settings import Settings  # noqa: E402
from jobs.tor import relays as tor_relays  # noqa: E402
from udfs.tor_geoip import GeoIP  # noqa: E402

pytestmark = pytest.mark.slow

BASELINE: dict[str, Any] = {}  # the first run's staged lines and canonical outputs


def query(settings: Settings, sql: str) -> list[tuple]:
    client = clickhouse.connect(settings)
    with clickhouse.lock():
        return client.query(sql).result_rows



@pytest.fixture(scope="module")
def job_run(
    tor_settings: Settings, geoip_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    settings = tor_settings.replace(var_dir=tmp_path_factory.mktemp("tor-job"), parallelism=2)
    truncate_tor(settings)
    run_tor(settings, COLLECTOR_TREE, geoip_dir)
    staged = sorted(tor_relays.staging_dir(settings).glob("*.jsonl"))
    BASELINE["lines"] = [line for f in staged for line in f.read_text().splitlines()]
    BASELINE["outputs"] = canonical_outputs(settings)
    return settings


def test_relay_counts_per_hour(job_run: Settings) -> None:
    rows = query(
        job_run,
        "SELECT toString(ts), count(), countIf(has(flags, 'Exit')) FROM tor.relay_snapshot GROUP BY ts ORDER BY ts",
    )
    assert rows == [
        ("2012-07-12 10:00:00", 7, 1),
        ("2018-06-01 00:00:00", 208, 22),
        ("2018-06-01 01:00:00", 35, 6),
        ("2018-06-01 02:00:00", 35, 6),
    ]


def test_output_equals_reference(job_run: Settings, geoip_dir: Path) -> None:
    expected = sorted(
        (
            json.loads(line)
            for lines in reference_rows(COLLECTOR_TREE, GeoIP(geoip_dir)).values()
            for line in lines
        ),
        key=lambda r: (r["ts"], r["fingerprint"]),
    )
    actual = snapshot_rows(job_run)
    assert len(actual) == len(expected) == 285
    for got, want in zip(actual, expected, strict=True):
        # ClickHouse gives '' for a NULL IPv6 through toString(); everything else is exact
        assert {k: got[k] for k in want} == dict(
            want, address_v6=want["address_v6"] or got["address_v6"]
        )
        assert got["address_v6"] in (want["address_v6"], None, "")


def test_metrics_equal_the_reference(job_run: Settings, geoip_dir: Path) -> None:
    """tor.relay_hour_metrics / network_hour_metrics equal the metrics computed without Flink
    (tests/unit/test_tor_metrics.py compares that path with a hand computation)."""
    reference = reference_metrics(COLLECTOR_TREE, GeoIP(geoip_dir))
    relays = query(
        job_run,
        "SELECT toUnixTimestamp(ts), hex(fingerprint), metric_version, weight_class, cw, cw_fraction, "
        "guard_probability, middle_probability, exit_probability, uptime_group, uptime_group_size "
        "FROM tor.relay_hour_metrics FINAL ORDER BY ts, fingerprint",
    )
    expected = [
        (hour, r["fingerprint"], r["metric_version"], r["weight_class"], r["cw"], r["cw_fraction"],
         r["guard_probability"], r["middle_probability"], r["exit_probability"],
         r["uptime_group"], r["uptime_group_size"])
        for hour, (rows, _) in sorted(reference.items())
        for r in rows
    ]
    assert len(relays) == len(expected) == 285
    assert relays == expected
    network = query(
        job_run,
        "SELECT toUnixTimestamp(ts), metric_name, metric_version, subject, metric_value, metric_unit, "
        "metric_metadata FROM tor.network_hour_metrics FINAL ORDER BY ts, metric_name, subject",
    )
    expected_network = sorted(
        (hour, r["metric_name"], r["metric_version"], r["subject"], r["metric_value"], r["metric_unit"],
         r["metric_metadata"])
        for hour, (_, rows) in reference.items()
        for r in rows
    )
    assert network == expected_network
    assert len(network) == 18 + 18 + 37 + 36
    # a missing hour breaks the pair: no churn rows at 2012-07-12 10:00 nor 2018-06-01 00:00
    assert query(
        job_run,
        "SELECT toString(ts), count() FROM tor.network_hour_metrics WHERE metric_name LIKE 'flag_%' "
        "GROUP BY ts ORDER BY ts",
    ) == [("2018-06-01 01:00:00", 19), ("2018-06-01 02:00:00", 18)]


def test_named_relays(job_run: Settings) -> None:
    rows = {
        (r["nickname"], r["ts"]): r
        for r in snapshot_rows(job_run)
        if r["nickname"]
        in ("CalyxInstitute14", "SecretSauce", "seeleRenamed", "caerSidi", "sumkledi", "t7")
    }
    calyx = rows[("CalyxInstitute14", "2018-06-01 00:00:00")]
    assert calyx["fingerprint"] == "0011BD2485AD45D984EC4159C88FC066E5E3300E"
    assert calyx["flags"] == [
        "Exit",
        "Fast",
        "Guard",
        "HSDir",
        "Running",
        "Stable",
        "V2Dir",
        "Valid",
    ]
    assert (calyx["bw_consensus"], calyx["cw"], calyx["bw_read"], calyx["bw_write"]) == (
        5380,
        5380,
        8186880,
        16678912,
    )
    assert (calyx["country"], calyx["asn"], calyx["geoip_source"], calyx["geoip_date"]) == (
        "US",
        4224,
        "dbip-lite",
        "2026-09-01",
    )
    assert (calyx["address_v4"], calyx["or_port"], calyx["dir_port"]) == ("162.247.72.201", 443, 80)
    sauce = rows[("SecretSauce", "2018-06-01 02:00:00")]
    assert (sauce["address_v4"], sauce["last_ip_change"], sauce["first_seen"]) == (
        "51.38.128.93",
        "2018-06-01 02:00:00",
        "2018-06-01 00:00:00",
    )
    assert rows[("SecretSauce", "2018-06-01 01:00:00")]["last_ip_change"] is None
    seele = rows[("seeleRenamed", "2018-06-01 02:00:00")]
    assert (seele["all_nicknames"], seele["first_seen"]) == (
        ["seele", "seeleRenamed"],
        "2018-06-01 00:00:00",
    )
    caer = rows[("caerSidi", "2018-06-01 02:00:00")]
    assert (caer["bw_observed"], caer["uptime"], caer["last_restarted"]) == (
        104590,
        588217,
        "2012-02-23 21:51:50",
    )
    assert (caer["contact"], caer["platform"], len(caer["family"])) == (
        "www.atagar.com/contact",
        "Tor 0.2.1.30 on Linux x86_64",
        8,
    )
    sumkledi = rows[("sumkledi", "2012-07-12 10:00:00")]
    assert (sumkledi["flags_by_auth.auth"], sumkledi["flags_by_auth.flags"]) == (
        ["tor26"],
        [["Exit", "Named", "Valid"]],
    )
    assert sumkledi["flags"] == ["Exit", "Fast", "Named", "Running", "Valid"]
    t7 = rows[("t7", "2018-06-01 00:00:00")]
    assert (t7["bw_measured"], t7["country"]) == (1, "FR")


def test_dead_letter(job_run: Settings) -> None:
    rows = query(
        job_run,
        "SELECT document, line, reason, stage, job FROM tor.dead_letter FINAL ORDER BY document",
    )
    assert rows == [
        ("broken/empty-consensus", 0, "missing_valid_after", "parse", "tor_relays"),
        ("broken/garbage.txt", 1, "not_a_tor_document", "parse", "tor_relays"),
        ("broken/truncated-vote", 67, "malformed_entry", "parse", "tor_relays"),
        ("real/negative_uptime", 6, "negative_uptime", "validate", "tor_relays"),
    ]


def test_aggregates_after_merges(job_run: Settings) -> None:
    client = clickhouse.connect(job_run)
    with clickhouse.lock():
        for table in ("country_hour_stats", "network_hour_stats"):
            client.command(f"OPTIMIZE TABLE tor.{table} FINAL")
    us = query(
        job_run,
        "SELECT toString(ts), relays, exit_relays, guard_relays FROM tor.country_hour_stats WHERE country = 'US' AND toDate(ts) = '2018-06-01' ORDER BY ts",
    )
    assert us == [
        ("2018-06-01 00:00:00", 34, 3, 7),
        ("2018-06-01 01:00:00", 7, 2, 2),
        ("2018-06-01 02:00:00", 8, 2, 2),
    ]
    summary = tor_relays.network_summary(job_run, top=3)
    assert (summary["relays"], summary["exit_relays"], summary["guard_relays"]) == (35, 6, 10)
    assert [c["country"] for c in summary["top_countries"]] == ["DE", "LV", "CH"]
    assert "35 relays, 6 exits, 10 guards" in tor_relays.format_summary(summary)


def test_derivations_agree_across_rows(job_run: Settings) -> None:
    """first_seen is the relay's first hour on every row; no address change after its row."""
    assert query(
        job_run,
        "SELECT count() FROM (SELECT fingerprint FROM tor.relay_snapshot GROUP BY fingerprint "
        "HAVING uniqExact(first_seen) > 1 OR any(first_seen) != min(ts))",
    ) == [(0,)]
    assert query(job_run, "SELECT count() FROM tor.relay_snapshot WHERE last_ip_change > ts") == [
        (0,)
    ]


def test_rerun_with_a_new_hour_adds_only_that_hour(
    job_run: Settings, geoip_dir: Path, tmp_path: Path
) -> None:
    """The same tree plus a tor data directory (its cached-consensus is a new hour)."""
    tree = tmp_path / "tree"
    shutil.copytree(COLLECTOR_TREE, tree)
    shutil.copytree(FIXTURES / "datadir", tree / "tor-data")
    before = query(job_run, "SELECT toString(ts), count() FROM tor.relay_snapshot GROUP BY ts")
    metrics = "SELECT toString(ts), count() FROM tor.relay_hour_metrics GROUP BY ts"  # no FINAL
    metrics_before = query(job_run, metrics)
    network_before = query(job_run, "SELECT count() FROM tor.network_hour_metrics")
    run_tor(job_run.replace(parallelism=1), tree, geoip_dir)
    after = query(job_run, "SELECT toString(ts), count() FROM tor.relay_snapshot GROUP BY ts")
    assert sorted(after) == sorted([*before, ("2017-05-25 04:46:30", 3)])
    # the metrics of the old hours are recomputed identically: their inserts carry the same
    # tokens and are dropped (no duplicate even before a merge). The new hour's 3 relays all
    # have weight 0 (a test network): no fractions, no concentration rows; cw_total and the
    # uptime-pattern count only
    assert sorted(query(job_run, metrics)) == sorted([*metrics_before, ("2017-05-25 04:46:30", 3)])
    assert query(job_run, "SELECT count() FROM tor.network_hour_metrics") == [
        (network_before[0][0] + 2,)
    ]
    assert query(
        job_run,
        "SELECT count(), countIf(cw_fraction IS NULL), countIf(guard_probability IS NULL) "
        "FROM tor.relay_hour_metrics WHERE ts = '2017-05-25 04:46:30'",
    ) == [(3, 3, 3)]
    assert query(
        job_run, "SELECT count() FROM tor.dead_letter FINAL WHERE document LIKE 'tor-data/%'"
    ) == [(1,)]  # the chutney consensus' empty client-versions line (validate)


@pytest.mark.parametrize(("order", "parallelism"), [("reversed", 1), ("shuffled", 2)])
def test_order_of_input_does_not_matter(
    job_run: Settings, geoip_dir: Path, tmp_path: Path, order: str, parallelism: int
) -> None:
    """The first run's staged lines, reversed in one file or shuffled over five files."""
    lines = list(BASELINE["lines"])
    settings = job_run.replace(var_dir=tmp_path / "var", parallelism=parallelism, geoip_dir=geoip_dir)
    staged = tor_relays.staging_dir(settings)
    staged.mkdir(parents=True)
    if order == "reversed":
        (staged / "all.jsonl").write_text("".join(line + "\n" for line in reversed(lines)))
    else:
        random.Random(13).shuffle(lines)
        for part in range(5):
            (staged / f"part-{part}.jsonl").write_text(
                "".join(line + "\n" for line in lines[part::5])
            )
    truncate_tor(settings)
    runtime.run(settings, tor_relays.NAME, prepare=False)  # over the lines staged here
    outputs = canonical_outputs(settings)
    for table, rows in BASELINE["outputs"].items():
        assert outputs[table] == rows, table
    assert len(outputs["relay_snapshot"]) == 285


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_monitoring_picks_up_a_new_consensus(
    tor_settings: Settings, geoip_dir: Path, tmp_path: Path
) -> None:
    """Unbounded run: an hour is written once the next consensus arrives."""
    # batch_interval_s: the dead-letter writer flushes on that processing-time timer
    settings = tor_settings.replace(
        var_dir=tmp_path / "var", monitor_interval_s=1, batch_interval_s=2
    )
    truncate_tor(settings)
    tree = tmp_path / "in"
    tree.mkdir()
    real = COLLECTOR_TREE / "real"
    shutil.copy(real / "consensuses-2018-06-cropped.tar", tree)
    client = run_tor(settings, tree, geoip_dir, wait=False)
    try:

        def hours() -> list[tuple]:
            return query(
                settings,
                "SELECT toString(ts), count() FROM tor.relay_snapshot GROUP BY ts ORDER BY ts",
            )

        deadline = time.time() + 60
        while hours() != [("2018-06-01 00:00:00", 208)] and time.time() < deadline:
            time.sleep(0.5)
        assert hours() == [("2018-06-01 00:00:00", 208)]  # 01:00 waits for a later consensus
        shutil.copy(
            COLLECTOR_TREE / "derived" / "2018-06-01-02-00-00-consensus", tree / ".incoming"
        )
        (tree / ".incoming").rename(tree / "2018-06-01-02-00-00-consensus")
        deadline = time.time() + 60
        while len(hours()) < 2 and time.time() < deadline:
            time.sleep(0.5)
        assert hours() == [("2018-06-01 00:00:00", 208), ("2018-06-01 01:00:00", 35)]
        # the metrics of 00:00 and 01:00 are written with them, equal to the bounded reference
        # (01:00 pairs with 00:00 for churn; 02:00 waits like its relay rows)
        deadline = time.time() + 30
        while len(metric_hours(settings)) < 2 and time.time() < deadline:
            time.sleep(0.5)
        assert metric_hours(settings) == [("2018-06-01 00:00:00", 208), ("2018-06-01 01:00:00", 35)]
        reference = reference_metrics(tree, GeoIP(geoip_dir))
        for hour, label in ((1527811200, "2018-06-01 00:00:00"), (1527814800, "2018-06-01 01:00:00")):
            got = query(
                settings,
                "SELECT metric_name, subject, metric_value, metric_metadata FROM tor.network_hour_metrics "
                f"FINAL WHERE ts = '{label}' ORDER BY metric_name, subject",
            )
            want = sorted(
                (r["metric_name"], r["subject"], r["metric_value"], r["metric_metadata"])
                for r in reference[hour][1]
            )
            assert got == want, label
        # staged lines that are not usable records are dead letters, the job keeps running
        staged = tor_relays.staging_dir(settings)
        (staged / ".bad.jsonl").write_text(
            '{"kind":"consensus","valid_after":"soon","fresh_until":1}\n'
            '{"kind":"status","valid_after":"x"}\n'
        )
        (staged / ".bad.jsonl").rename(staged / "bad.jsonl")

        def decode_rejects() -> list[tuple]:
            return query(
                settings,
                "SELECT reason FROM tor.dead_letter FINAL WHERE stage = 'decode' ORDER BY reason",
            )

        deadline = time.time() + 60
        while len(decode_rejects()) < 2 and time.time() < deadline:
            time.sleep(0.5)
        assert decode_rejects() == [("bad_consensus_record",), ("bad_fingerprint",)]
    finally:
        client.cancel()


def metric_hours(settings: Settings) -> list[tuple]:
    return query(
        settings,
        "SELECT toString(ts), count() FROM tor.relay_hour_metrics FINAL GROUP BY ts ORDER BY ts",
    )
