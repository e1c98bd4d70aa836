"""Polling for the scenarios that drive a running job from outside (tests/*_run.py, tests/cluster/)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.3) -> float:
    """Call ``predicate`` every ``step`` seconds until it is truthy; the seconds waited (0.01 s).

    Raises TimeoutError naming ``what`` after ``timeout`` seconds.
    """
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(step)
    return round(time.monotonic() - started, 2)
