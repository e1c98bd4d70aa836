"""CPU seconds and peak RSS of a process tree, sampled from /proc; rows per table of a run.

Shared by the benchmark legs (bench/run.py, bench/cluster_leg.py, bench/latency_kafka.py) and the soak
(tests/reliability/soak_scenario.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- process tree sampling ----------------------------------------------------------------------------
def _proc_table() -> dict[int, tuple[int, int, int]]:
    """Pid -> (ppid, rss_kb, cpu_ticks) for every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        # fields[0] = state, [1] = ppid, [11] = utime, [12] = stime, [13] cutime, [14] cstime, [21] = rss pages
        table[int(entry)] = (
            int(fields[1]),
            int(fields[21]) * PAGE_KB,
            sum(int(x) for x in fields[11:15]),
        )
    return table


def _tree(table: dict[int, tuple[int, int, int]], root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        if pid in table:
            out.append(pid)
            stack.extend(children.get(pid, []))
    return out


def tree_rss_kb(root: int) -> dict[str, int]:
    """Resident set size now of a process and its descendants, in kB, summed per command name.

    The command name is the kernel's (``/proc/<pid>/comm``: ``java``, ``python``, ...); the dict
    is empty when the process is gone.
    """
    table = _proc_table()
    out: dict[str, int] = {}
    for pid in _tree(table, root):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            name = "?"
        out[name] = out.get(name, 0) + table[pid][1]
    return out


def tree_cpu_s(root: int) -> float:
    """CPU seconds so far of a process and its live descendants (with their reaped children)."""
    table = _proc_table()
    return sum(table[p][2] for p in _tree(table, root)) / CLK_TCK


class TreeSampler(threading.Thread):
    """Peak RSS (sum over the process tree) and CPU seconds of a running process tree."""

    def __init__(self, root: int, interval_s: float = 0.2):
        super().__init__(daemon=True)
        self.root = root
        self.interval_s = interval_s
        self.peak_kb = 0
        self.cpu_ticks: dict[int, int] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            table = _proc_table()
            pids = _tree(table, self.root)
            self.peak_kb = max(self.peak_kb, sum(table[p][1] for p in pids))
            for p in pids:  # children that already exited are in their parent's cutime/cstime
                self.cpu_ticks[p] = table[p][2]
            self.stopped.wait(self.interval_s)

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu_ticks.values()) / CLK_TCK


def count_rows(var: Path, logs: Path, name: str) -> dict[str, int]:
    """Rows per table of a finished run (``bench.baselines --counts`` in its own process)."""
    counts_file = logs / f"{name}-rows.json"
    counted = subprocess.run(
        [sys.executable, "-m", "bench.baselines", "--counts", "--var", str(var), "--json", str(counts_file)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    return json.loads(counts_file.read_text()) if counted.returncode == 0 and counts_file.exists() else {}
