"""Ack ids and the table of acknowledgements still awaited, with their deadlines.

Pure bookkeeping: the I/O layer asks ``next_deadline()`` and calls ``expire(now)``; what
an entry holds (a future, a callback) is the caller's business.
"""

from __future__ import annotations

import heapq
import math
from typing import Generic, TypeVar

__all__ = ["AckTable"]

T = TypeVar("T")


class AckTable(Generic[T]):
    __slots__ = ("_deadlines", "_next_id", "_pending")

    def __init__(self) -> None:
        self._next_id = 0
        self._pending: dict[int, T] = {}
        self._deadlines: list[tuple[float, int]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, entry: T, deadline: float | None = None) -> int:
        """Register an awaited ack; returns its id (ids count up from 0, as the reference)."""
        ack_id = self._next_id
        self._next_id += 1
        self._pending[ack_id] = entry
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, ack_id))
        return ack_id

    def pop(self, ack_id: int) -> T | None:
        """The entry answered by ``ack_id``, once; ``None`` for an unknown or repeated id."""
        return self._pending.pop(ack_id, None)

    def next_deadline(self) -> float:
        while self._deadlines and self._deadlines[0][1] not in self._pending:
            heapq.heappop(self._deadlines)
        return self._deadlines[0][0] if self._deadlines else math.inf

    def expire(self, now: float) -> list[tuple[int, T]]:
        """Remove and return the entries whose deadline has passed."""
        expired = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, ack_id = heapq.heappop(self._deadlines)
            entry = self._pending.pop(ack_id, None)
            if entry is not None:
                expired.append((ack_id, entry))
        return expired

    def clear(self) -> list[T]:
        entries = list(self._pending.values())
        self._pending.clear()
        self._deadlines.clear()
        return entries
