"""Bad input by the thousand: every line accounted for, identical bad lines counted, no failure.

One bounded naap run (BATCH, local MiniCluster, chDB) over the hand-made corpus
(tests/reliability/hand_corpus.py: 14 classes) plus seeded random mutations of the real fixture
events (tests/reliability/mutations.py); tests/reliability/accounting.py checks every line
against the outcome the rules give it. The quick run (corpus + 3000 mutants) is part of the
default run; the 100k-mutant run is behind the ``long`` marker (last result in
docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import accounting
import hand_corpus
import mutations
import pytest

from jobs import settings as settings_module

pytestmark = pytest.mark.slow

QUICK_MUTANTS = 3000
LONG_MUTANTS = 100_000


def _inputs(mutant_count: int, seed: int) -> dict[str, list[bytes]]:
    corpus = hand_corpus.lines()
    files: dict[str, list[bytes]] = {f"corpus-{name}.jsonl": lines for name, lines in corpus.items()}
    # The identical lines once more in a file of their own: a second position, a second set.
    files["corpus-identical-again.jsonl"] = corpus["identical_bad_lines"]
    mutants = [line for _, line in mutations.mutants(mutant_count, seed)]
    for part in range(4):
        files[f"mutants-{seed}-{part}.jsonl"] = mutants[part::4]
    return files


def _run(tmp: Path, mutant_count: int, seed: int) -> dict[str, Any]:
    var_dir = tmp / "var"
    var_dir.mkdir(parents=True)
    input_dir = tmp / "input"
    accounting.write_inputs(input_dir, _inputs(mutant_count, seed))
    env = {"NETPULSE_PARALLELISM": "2"}
    tables, seconds, code = accounting.run_pipeline(var_dir, input_dir, env)
    config = settings_module.load({"NETPULSE_VAR_DIR": str(var_dir), **env})
    future_limit_ms = int(time.time() * 1000) + config.max_future_skew_s * 1000
    log = (var_dir / "run.log").read_text(errors="replace")
    assert code == 0, f"the job failed ({code}):\n{log[-6000:]}"
    lines = accounting.source_lines(input_dir)
    result = accounting.account(lines, tables, config, future_limit_ms)
    return {"tables": tables, "seconds": seconds, "result": result, "config": config,
            "future_limit_ms": future_limit_ms, "lines": lines}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run(tmp_path_factory.mktemp("bad-input"), QUICK_MUTANTS, seed=1)


def test_every_line_accounted_for(quick: dict[str, Any], record_property: Any) -> None:
    result = quick["result"]
    record_property("figures", {**result.figures(), "seconds": round(quick["seconds"], 1)})
    assert not result.problems, "\n".join(result.problems)
    assert result.lines > QUICK_MUTANTS
    assert result.accepted_lines > 0 and result.rejected_lines > 0


def test_every_class_exercises_its_rules(quick: dict[str, Any], record_property: Any) -> None:
    corpus = {name: [line.decode("utf-8", errors="replace") for line in lines] for name, lines in hand_corpus.lines().items()}
    reasons = accounting.per_class(corpus, quick["config"], quick["future_limit_ms"])
    assert len(reasons) >= 12
    record_property("figures", {"classes": len(reasons), "corpus_lines": sum(map(len, corpus.values()))})
    for name, expected in hand_corpus.EXPECTED_REASONS.items():
        missing = expected - set(reasons[name])
        assert not missing, f"{name}: no line gave {missing} (got {dict(reasons[name])})"


def test_identical_bad_lines_are_counted_not_folded(quick: dict[str, Any]) -> None:
    dead = [r for r in quick["tables"]["dead_letter"] if r["job"] == accounting.SOURCE_JOB]
    same = Counter(
        (r["source_position"].rsplit("/", 1)[-1], r["reason"]) for r in dead
        if r["payload"] in ('{"id": "hc-same", "type": "ai_stream_status", "timestamp": "17721', "garbage")
        or '"hc-same-u"' in r["payload"]
    )
    for name in ("corpus-identical_bad_lines.jsonl", "corpus-identical-again.jsonl"):
        assert same[(name, "malformed_json")] == 5 + 4, same
        assert same[(name, "unknown_event_type")] == 3, same
    good = [r for r in quick["tables"]["raw_events"] if r["event_id"] == "hc-same-good"]
    assert len(good) == 1  # a repeated good line is one event: deduplicated, as designed


def test_mutants_cover_every_kind(quick: dict[str, Any]) -> None:
    kinds = Counter(kind for kind, _ in mutations.mutants(QUICK_MUTANTS, 1))
    assert set(kinds) == set(mutations.KINDS)
    outcomes = Counter(r for r in quick["result"].by_reason)
    assert {"malformed_json", "invalid_utf8", None} <= set(outcomes)


def _recount(quick: dict[str, Any], tables: dict[str, Any]) -> accounting.Accounting:
    return accounting.account(quick["lines"], tables, quick["config"], quick["future_limit_ms"])


@pytest.mark.parametrize("table", ["raw_events", "dead_letter"])
def test_the_accounting_fails_on_a_planted_duplicate(quick: dict[str, Any], table: str) -> None:
    rows = quick["tables"][table]
    planted = dict(rows[len(rows) // 2])
    if table == "dead_letter":
        planted["reject_key"] = "planted"  # a second row for one line, not a copy of the same row
    problems = _recount(quick, {**quick["tables"], table: [*rows, planted]}).problems
    assert problems, f"a second {table} row for one input line went unnoticed"


@pytest.mark.parametrize("table", ["raw_events", "dead_letter", "ai_stream_status"])
def test_the_accounting_fails_on_a_dropped_row(quick: dict[str, Any], table: str) -> None:
    rows = quick["tables"][table]
    if table == "dead_letter":  # a source reject: the rows the line-by-line check is about
        rows = [r for r in rows if r["job"] == accounting.SOURCE_JOB]
        kept = [r for r in quick["tables"][table] if r is not rows[len(rows) // 2]]
    else:
        kept = rows[: len(rows) // 2] + rows[len(rows) // 2 + 1 :]
    assert _recount(quick, {**quick["tables"], table: kept}).problems


@pytest.mark.long
def test_100k_mutants_every_line_accounted_for(tmp_path: Path, record_property: Any) -> None:
    seed = int(os.environ.get("RELIABILITY_SEED", "2"))
    run = _run(tmp_path, LONG_MUTANTS, seed=seed)
    result = run["result"]
    figures = {**result.figures(), "seconds": round(run["seconds"], 1), "seed": seed,
               "reasons": {str(k): v for k, v in result.by_reason.most_common()}}
    record_property("figures", figures)
    (tmp_path / "figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    assert not result.problems, "\n".join(result.problems)
    assert result.lines >= LONG_MUTANTS


def test_identical_bad_lines_counted_in_streaming_mode(tmp_path: Path) -> None:
    """STREAMING numbers identical rejected lines by a running count per file (processing-time
    order), not by ROW_NUMBER over the whole input: the same rows as BATCH."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    lines = hand_corpus.identical_bad_lines()
    accounting.write_inputs(tmp_path / "input", {"a.jsonl": lines, "b.jsonl": lines})
    tables, _, code = accounting.run_pipeline(
        var_dir, tmp_path / "input", {"NETPULSE_RUNTIME_MODE": "streaming", "NETPULSE_PARALLELISM": "1"}
    )
    assert code == 0, (var_dir / "run.log").read_text(errors="replace")[-6000:]
    dead = [r for r in tables["dead_letter"] if r["job"] == accounting.SOURCE_JOB]
    counts = Counter((r["source_position"].rsplit("/", 1)[-1], r["reason"]) for r in dead)
    assert counts == {("a.jsonl", "malformed_json"): 9, ("a.jsonl", "unknown_event_type"): 3,
                      ("b.jsonl", "malformed_json"): 9, ("b.jsonl", "unknown_event_type"): 3}
    assert len({r["reject_key"] for r in dead}) == len(dead) == 24
    assert [r["event_id"] for r in tables["raw_events"]] == ["hc-same-good"]
