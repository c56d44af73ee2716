"""CPU seconds spent by groups of processes between two snapshots (Linux ``/proc``): what a
benchmark's work cost each part (workers, web, PostgreSQL, this process) when the machine is the
limit. A process's own time and that of its children it reaped (PostgreSQL's postmaster reaps its
connections' backends) both count."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_snapshot() -> dict[int, tuple[int, str, float]]:
    """pid → (parent pid, command line, CPU seconds so far); empty where there is no ``/proc``."""
    seen: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        name_end = stat.rfind(")")
        fields = stat[name_end + 2 :].split()
        seconds = sum(int(value) for value in fields[11:15]) / _TICK  # utime, stime, cutime, cstime
        seen[int(entry.name)] = (int(fields[1]), command or stat[stat.find("(") + 1 : name_end], seconds)
    return seen


def cpu_split(
    before: dict[int, tuple[int, str, float]],
    after: dict[int, tuple[int, str, float]],
    group_of: Callable[[int, str, dict[int, tuple[int, str, float]]], str | None],
) -> Counter[str]:
    """CPU seconds per group between the snapshots; ``group_of(pid, command, snapshot)`` names a
    process's group (None: not counted)."""
    spent: Counter[str] = Counter()
    for pid, (_parent, command, seconds) in after.items():
        group = group_of(pid, command, after)
        if group is not None:
            spent[group] += seconds - before.get(pid, (0, command, 0.0))[2]
    return spent


def descends_from(pid: int, ancestor: int, snapshot: dict[int, tuple[int, str, float]]) -> bool:
    """Whether ``pid`` is ``ancestor`` or one of its descendants."""
    while pid > 1:
        if pid == ancestor:
            return True
        pid = snapshot.get(pid, (0, "", 0.0))[0]
    return False
