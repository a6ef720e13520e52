"""``tune_gc``: start-up objects frozen, young collections less frequent, nothing else changed."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

import socketeer


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restore_gc")
def test_freezes_and_raises_the_young_threshold() -> None:
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    socketeer.tune_gc()
    assert gc.get_freeze_count() > 1000  # at least the modules and functions already loaded
    assert gc.get_threshold() == (10_000, 10, 10)


@pytest.mark.usefixtures("restore_gc")
def test_leaves_a_higher_or_disabled_threshold_alone() -> None:
    gc.set_threshold(50_000, 20, 5)
    socketeer.tune_gc()
    assert gc.get_threshold() == (50_000, 20, 5)
    gc.set_threshold(0, 10, 10)  # collection switched off by the application: not switched on
    socketeer.tune_gc()
    assert gc.get_threshold() == (0, 10, 10)


@pytest.mark.usefixtures("restore_gc")
def test_cycles_are_still_collected() -> None:
    socketeer.tune_gc()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2
