"""How the benchmarks time a call: median and 95th percentile in milliseconds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object], runs: int, *, warm_up: bool = True) -> tuple[float, float]:
    """(median ms, p95 ms) of ``fn`` over ``runs`` calls, after one warm-up call unless told not to."""
    if warm_up:
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
