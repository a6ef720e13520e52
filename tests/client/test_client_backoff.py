"""The reconnection delay policy, alone: the reference's formula on a scripted random source."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketeer.client.backoff import Backoff


def scripted(*values: float) -> Backoff:
    draws = itertools.cycle(values)
    return Backoff(1.0, 5.0, jitter=0.5, random=lambda: next(draws))


def test_defaults_are_the_reference_managers() -> None:
    backoff = Backoff()
    assert (backoff.min_delay, backoff.max_delay, backoff.factor, backoff.jitter) == (1.0, 5.0, 2.0, 0.5)


def test_doubles_from_min_to_max_without_jitter() -> None:
    backoff = Backoff(0.5, 5.0, jitter=0)
    assert [backoff.duration() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.attempts == 6


def test_jitter_sign_comes_from_the_same_draw() -> None:
    # 0.2: first digit 2 (even) -> minus 0.2 * 0.5 * 1 s; 0.3: digit 3 (odd) -> plus.
    assert scripted(0.2).duration() == pytest.approx(0.9)
    assert scripted(0.3).duration() == pytest.approx(1.15)


def test_jitter_grows_with_the_delay_and_is_capped() -> None:
    backoff = scripted(0.99)  # odd digit, largest deviation: delay * 1.495
    assert [round(backoff.duration(), 3) for _ in range(4)] == [1.495, 2.99, 5.0, 5.0]


def test_reset_starts_over() -> None:
    backoff = Backoff(jitter=0)
    backoff.duration()
    backoff.duration()
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.duration() == 1.0


def test_thousands_of_attempts_stay_at_the_cap() -> None:
    backoff = Backoff(1.0, 5.0, jitter=0.5)
    backoff.attempts = 5000
    assert backoff.duration() == 5.0


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Backoff(-1.0)
    with pytest.raises(ValueError):
        Backoff(jitter=1.5)


@given(
    min_delay=st.floats(0.001, 10),
    span=st.floats(0, 100),
    jitter=st.floats(0, 1),
    draws=st.lists(st.floats(0, 0.999999), min_size=1, max_size=30),
)
def test_every_delay_within_its_bounds(min_delay: float, span: float, jitter: float, draws: list[float]) -> None:
    source = iter(draws)
    backoff = Backoff(min_delay, min_delay + span, jitter=jitter, random=lambda: next(source))
    for attempt in range(len(draws)):
        low, high = backoff.bounds(attempt)
        delay = backoff.duration()
        assert low - 1e-9 <= delay <= high + 1e-9
        assert 0 <= delay <= backoff.max_delay
