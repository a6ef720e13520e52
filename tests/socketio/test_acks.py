"""AckTable: ack ids and the acknowledgements still awaited, with deadlines on a fake clock."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from socketeer.socketio.acks import AckTable


def test_ids_count_up_from_zero() -> None:
    table: AckTable[str] = AckTable()
    assert [table.add(f"cb{i}") for i in range(5)] == [0, 1, 2, 3, 4]
    assert len(table) == 5


def test_pop_answers_once() -> None:
    table: AckTable[str] = AckTable()
    ack_id = table.add("cb")
    assert table.pop(ack_id) == "cb"
    assert table.pop(ack_id) is None
    assert len(table) == 0


def test_pop_unknown_id() -> None:
    table: AckTable[str] = AckTable()
    table.add("cb")
    assert table.pop(1) is None
    assert table.pop(-1) is None
    assert table.pop(10**16) is None
    assert len(table) == 1


def test_ids_are_not_reused() -> None:
    table: AckTable[str] = AckTable()
    table.pop(table.add("a"))
    table.clear()
    assert table.add("b") == 1


def test_no_deadline() -> None:
    table: AckTable[str] = AckTable()
    table.add("cb")
    assert table.next_deadline() == math.inf
    assert table.expire(1e18) == []
    assert len(table) == 1


def test_next_deadline_is_the_earliest() -> None:
    table: AckTable[str] = AckTable()
    table.add("a", deadline=30.0)
    table.add("b", deadline=10.0)
    table.add("c")
    table.add("d", deadline=20.0)
    assert table.next_deadline() == 10.0


def test_expire() -> None:
    table: AckTable[str] = AckTable()
    a = table.add("a", deadline=30.0)
    b = table.add("b", deadline=10.0)
    table.add("c")
    d = table.add("d", deadline=20.0)
    assert table.expire(9.999) == []
    assert table.expire(10.0) == [(b, "b")]  # a deadline that is now has passed
    assert table.next_deadline() == 20.0
    assert table.expire(100.0) == [(d, "d"), (a, "a")]  # in deadline order
    assert table.next_deadline() == math.inf
    assert len(table) == 1
    assert table.pop(b) is None  # an expired ack can no longer be answered


def test_answered_acks_do_not_expire() -> None:
    table: AckTable[str] = AckTable()
    a = table.add("a", deadline=10.0)
    table.add("b", deadline=20.0)
    assert table.pop(a) == "a"
    assert table.next_deadline() == 20.0  # the answered one's deadline is skipped
    assert [entry for _, entry in table.expire(15.0)] == []
    assert [entry for _, entry in table.expire(20.0)] == ["b"]


def test_clear() -> None:
    table: AckTable[str] = AckTable()
    table.add("a", deadline=1.0)
    table.add("b")
    assert sorted(table.clear()) == ["a", "b"]
    assert len(table) == 0
    assert table.next_deadline() == math.inf
    assert table.expire(100.0) == []


def test_entries_may_be_anything() -> None:
    table: AckTable[object] = AckTable()
    entry = object()
    ack_id = table.add(entry, deadline=5.0)
    assert table.expire(5.0) == [(ack_id, entry)]


@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "pop", "expire"]), st.floats(min_value=0, max_value=100)),
        max_size=60,
    )
)
def test_against_a_model(ops: list[tuple[str, float]]) -> None:
    table: AckTable[int] = AckTable()
    model: dict[int, float] = {}  # ack id -> deadline
    next_id = 0
    for op, value in ops:
        if op == "add":
            assert table.add(next_id, deadline=value) == next_id
            model[next_id] = value
            next_id += 1
        elif op == "pop":
            ack_id = int(value) % (next_id + 1)
            assert table.pop(ack_id) == (ack_id if ack_id in model else None)
            model.pop(ack_id, None)
        else:
            expired = table.expire(value)
            due = sorted((deadline, i) for i, deadline in model.items() if deadline <= value)
            assert expired == [(i, i) for _, i in due]
            for _, i in due:
                del model[i]
        assert len(table) == len(model)
        assert table.next_deadline() == min(model.values(), default=math.inf)
