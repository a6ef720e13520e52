"""Timing and tables shared by the benchmarks, so every table is measured the same way.

A measurement is timeit's: the garbage collector off, the callable run ``number`` times in
a loop, ``number`` chosen so one loop takes at least ``min_time``, and the best of
``repeat`` loops kept. The best, not the mean, because on a shared 2-core machine noise
only ever adds time.
"""

from __future__ import annotations

import platform
import sys
import timeit
from collections.abc import Callable, Sequence
from importlib import metadata

__all__ = ["best_time", "environment", "format_rate", "print_table"]


def best_time(func: Callable[[], object], min_time: float = 0.3, repeat: int = 5) -> float:
    """Seconds per call of ``func``: the best of ``repeat`` loops of about ``min_time`` each."""
    timer = timeit.Timer(func)
    number = 1
    while True:  # calibrate; this also warms caches and the allocator
        elapsed = timer.timeit(number)
        if elapsed >= min_time:
            break
        # Jump most of the way at once, so calibration costs about one loop, not ten.
        wanted = int(number * min_time * 1.2 / elapsed) if elapsed > 0 else number * 10
        number = max(number * 2, wanted)
    return min(timer.timeit(number) for _ in range(repeat)) / number


def format_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] = ()) -> None:
    """A plain-text table; ``right[i]`` right-aligns column ``i`` (numbers)."""
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(len(headers))]
    aligns = [right[i] if i < len(right) else False for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(cells, widths, aligns, strict=True)
        ).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def environment(*distributions: str) -> str:
    """One line naming the interpreter and the versions measured, to keep with the numbers."""
    parts = [f"Python {platform.python_version()} ({platform.python_implementation()}, {sys.platform})"]
    for dist in distributions:
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist} (not installed)")
    return "; ".join(parts)
