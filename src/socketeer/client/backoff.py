"""The reconnection delay policy: exponential backoff with jitter, as the reference client's.

Pure: no clock and no sleeping, and the random source is injectable, so the policy is tested
without I/O. The formula is the one of ``socket.io-client``'s ``backo2``, in seconds::

    delay   = min_delay * factor ** attempts          (attempts counts from 0, then goes up by one)
    rand    = random()                                 (one draw in [0, 1))
    delay  += rand * jitter * delay, or -= it          (the sign from a digit of the same draw)
    result  = min(delay, max_delay)

so with the defaults (1 s, x2, jitter 0.5, cap 5 s) the first delay lies in [0.5 s, 1.5 s], the
second in [1 s, 3 s], and every later one in [2 s, 5 s] then at 5 s.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """The delay before each reconnection attempt; ``reset()`` after a success."""

    __slots__ = ("_random", "attempts", "factor", "jitter", "max_delay", "min_delay")

    def __init__(
        self,
        min_delay: float = 1.0,
        max_delay: float = 5.0,
        *,
        factor: float = 2.0,
        jitter: float = 0.5,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if min_delay < 0 or max_delay < 0:
            raise ValueError("delays cannot be negative")
        if not 0 <= jitter <= 1:
            raise ValueError("jitter (the randomization factor) is between 0 and 1")
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.factor = factor
        self.jitter = jitter
        self._random = random
        #: Delays handed out since the last reset: the number of the next attempt, minus one.
        self.attempts = 0

    def duration(self) -> float:
        """The delay before the next attempt, in seconds; each call counts one attempt."""
        try:
            delay = self.min_delay * self.factor**self.attempts
        except OverflowError:  # thousands of attempts: far past any cap
            delay = math.inf
        self.attempts += 1
        if self.jitter and math.isfinite(delay):
            rand = self._random()
            deviation = rand * self.jitter * delay
            # The reference takes the sign from the same draw: the parity of its first digit.
            delay = delay - deviation if int(rand * 10) & 1 == 0 else delay + deviation
        return max(0.0, min(delay, self.max_delay))

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The smallest and largest delay ``duration()`` can return for attempt number
        ``attempt`` (0 is the first), so a caller can check what it observed."""
        try:
            base = self.min_delay * self.factor**attempt
        except OverflowError:
            base = math.inf
        low = base * (1 - self.jitter)
        high = base * (1 + self.jitter)
        return min(low, self.max_delay), min(high, self.max_delay)

    def reset(self) -> None:
        self.attempts = 0

    def __repr__(self) -> str:
        return (f"<Backoff {self.min_delay}s..{self.max_delay}s x{self.factor} "
                f"jitter={self.jitter} attempts={self.attempts}>")
