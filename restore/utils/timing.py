"""Wall-clock timing: the one clock, a pausable stopwatch, and the median of repeated calls.

Written here rather than taken from ``timeit`` or ``codetiming``: ``timeit`` times statements in
loops with the garbage collector off and reports totals, while the platform times live objects
once per call (one image, one forward pass after a warm-up) and pauses a running clock (training
time excluding validation, carried across a resume); that is the dozen lines below.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

clock = time.perf_counter
"""The wall clock every measurement reads (monotonic, the finest resolution available)."""


class Stopwatch:
    """Wall-clock seconds summed over every ``start`` / ``stop`` interval; a context manager.

    ``elapsed`` holds the finished intervals (it can start non-zero, e.g. restored from a
    checkpoint); :meth:`seconds` adds the running one.

    >>> watch = Stopwatch(elapsed=2.0)
    >>> with watch:
    ...     pass
    >>> watch.running, watch.seconds() >= 2.0
    (False, True)
    >>> watch.start().running, watch.stop() == watch.elapsed, watch.running
    (True, True, False)
    """

    def __init__(self, elapsed: float = 0.0):
        self.elapsed = float(elapsed)
        self._start: float | None = None

    @property
    def running(self) -> bool:
        return self._start is not None

    def start(self) -> Stopwatch:
        """Start the clock (a running one keeps its start); returns the stopwatch."""
        if self._start is None:
            self._start = clock()
        return self

    def stop(self) -> float:
        """Stop the clock, adding the running interval to ``elapsed``; returns ``elapsed``."""
        if self._start is not None:
            self.elapsed += clock() - self._start
            self._start = None
        return self.elapsed

    def seconds(self) -> float:
        """Seconds so far: the finished intervals and the running one."""
        running = clock() - self._start if self._start is not None else 0.0
        return self.elapsed + running

    def __enter__(self) -> Stopwatch:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def median_seconds(fn: Callable[[], object], runs: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``runs`` calls of ``fn`` (at least one), after ``warmup``
    untimed calls (allocators, kernel selection, caches).

    >>> calls = []
    >>> median_seconds(lambda: calls.append(1), runs=3, warmup=1) >= 0, len(calls)
    (True, 4)
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, runs)):
        with Stopwatch() as watch:
            fn()
        times.append(watch.elapsed)
    return statistics.median(times)
