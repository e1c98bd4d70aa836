"""udfs/scd.py: Type 2 versions of orchestrator_metadata (no JVM)."""

from udfs.scd import advance, key_of


def _row(seen: str, **changes: object) -> dict:
    row = {
        "orchestrator_address": "0xabc", "gpu_id": "GPU-1", "pipeline": "live-video-to-video",
        "model_id": "streamdiffusion-sdxl", "gpu_name": "NVIDIA GeForce RTX 4090",
        "gpu_memory_total": 25757220864, "gpu_memory_free": 1, "gpu_major_version": 8,
        "gpu_minor_version": 9, "runner_version": "0.14.1", "orchestrator_version": "0.8.8",
        "supported_pipelines": ["live-video-to-video"], "supported_models": ["streamdiffusion-sdxl"],
        "capacity": 1, "capacity_in_use": 0, "price_per_pixel": 2149.0, "local_address": "0xloc",
        "orchestrator_url": "https://o:1", "region": "", "valid_from": seen, "valid_to": None,
        "is_current": True, "last_seen": seen, "gateway": "g", "source_event_id": seen,
    }
    return row | changes


def test_first_announcement_opens_a_version() -> None:
    current, emitted = advance(None, _row("2026-02-02 20:10:08.615"))
    assert emitted == [current] and current["is_current"] and current["valid_to"] is None
    assert key_of(current) == "0xabc|GPU-1|live-video-to-video|streamdiffusion-sdxl"


def test_unchanged_announcement_only_moves_last_seen_and_volatile_values() -> None:
    first, _ = advance(None, _row("2026-02-02 20:10:08.615"))
    current, emitted = advance(first, _row("2026-02-02 21:10:08.615", gpu_memory_free=7, capacity_in_use=1))
    assert emitted == [current]
    assert current["valid_from"] == "2026-02-02 20:10:08.615"
    assert current["last_seen"] == "2026-02-02 21:10:08.615"
    assert (current["gpu_memory_free"], current["capacity_in_use"]) == (7, 1)


def test_tracked_change_closes_the_version_and_opens_another() -> None:
    first, _ = advance(None, _row("2026-02-02 20:10:08.615"))
    current, emitted = advance(first, _row("2026-02-02 22:10:08.615", runner_version="0.14.2"))
    closed, opened = emitted
    assert closed["valid_from"] == "2026-02-02 20:10:08.615"
    assert closed["valid_to"] == "2026-02-02 22:10:08.615" and closed["is_current"] is False
    assert closed["runner_version"] == "0.14.1" and closed["last_seen"] == "2026-02-02 22:10:08.615"
    assert opened == current and current["runner_version"] == "0.14.2"
    assert current["valid_from"] == "2026-02-02 22:10:08.615" and current["is_current"]


def test_an_older_announcement_changes_nothing() -> None:
    first, _ = advance(None, _row("2026-02-02 20:10:08.615"))
    current, emitted = advance(first, _row("2026-02-02 19:00:00.000", runner_version="0.13"))
    assert current == first and emitted == []
