"""jobs/tor/collect.py: staging a CollecTor tree as JSON lines, once per content."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest_tor import COLLECTOR_TREE  # noqa: E402

from jobs.tor.collect import collect  # noqa: E402


def staged_records(staging: Path) -> list[dict]:
    return [
        json.loads(line)
        for f in sorted(staging.glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]


def test_fixture_tree(tmp_path: Path) -> None:
    stats = collect(COLLECTOR_TREE, tmp_path)
    assert (stats.files_seen, stats.files_staged) == (20, 20)
    kinds = Counter(r["kind"] for r in staged_records(tmp_path))
    # 208 + 35 real + 35 derived consensus entries + 7 (metrics_consensus); one document
    # record per consensus (2012-07-12 10:00, 2018-06-01 00:00, 01:00, 02:00)
    assert kinds == {
        "status": 285, "bw": 179, "vote": 10, "extra": 10, "server": 10, "reject": 4, "consensus": 4
    }
    assert stats.documents == 4
    rejects = sorted(
        (r["document"], r["line"], r["reason"])
        for r in staged_records(tmp_path)
        if r["kind"] == "reject"
    )
    assert rejects == [
        ("broken/empty-consensus", 0, "missing_valid_after"),
        ("broken/garbage.txt", 1, "not_a_tor_document"),
        ("broken/truncated-vote", 67, "malformed_entry"),
        ("real/negative_uptime", 6, "negative_uptime"),
    ]
    assert not list(tmp_path.glob(".*")), "no hidden half-written files remain"


def test_collect_is_idempotent_and_picks_up_new_files(tmp_path: Path) -> None:
    tree = tmp_path / "in"
    (tree / "real").mkdir(parents=True)
    shutil.copy(COLLECTOR_TREE / "real" / "example_descriptor", tree / "real")
    staging = tmp_path / "staged"
    assert collect(tree, staging).files_staged == 1
    assert collect(tree, staging).files_staged == 0
    shutil.copy(COLLECTOR_TREE / "real" / "metrics_vote", tree / "real")
    (tree / "real" / ".partial").write_text("being written")
    stats = collect(tree, staging)
    assert (stats.files_seen, stats.files_staged, stats.records) == (2, 1, 4)
