"""Connection state recovery: a client whose transport was cut gets, on reconnecting, the
packets it missed (offsets appended, as the reference), its rooms and ``socket.data``, and
``recovered`` is true on both sides."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest

import socketeer

from .raw import RawSocket
from .util import BLOB, Log, Serve, connect, emit_ack, start

RECOVERY = {"max_disconnection_duration": 120, "skip_middlewares": True}
RECONNECT_FAST = {"reconnectionDelay": 100, "reconnectionDelayMax": 100, "randomizationFactor": 0}


def recovering_app(io: socketeer.Server, log: Log) -> None:
    @io.on("connection")
    async def on_connection(socket: socketeer.Socket, auth: Any) -> None:
        log("connection", socket.id, socket.recovered, dict(socket.data), sorted(socket.rooms))
        if not socket.recovered:
            socket.join("r")
            socket.data["n"] = 1

    @io.on("bump")
    async def bump(socket: socketeer.Socket) -> int:
        socket.data["n"] += 1
        return int(socket.data["n"])

    @io.on("disconnect")
    async def gone(socket: socketeer.Socket, reason: str) -> None:
        log("disconnect", socket.id, reason)
        if reason == "transport close":
            # The client is away now: everything below is emitted while it cannot receive.
            io.emit("missed", 1)
            io.to("r").emit("room", 2)
            io.to("elsewhere").emit("not_mine", 3)
            io.emit("bin", {"b": BLOB})
            io.volatile.emit("volatile", 4)  # never stored
            io.to(socket.id).emit("direct", 5)
            io.except_("r").emit("excluded", 6)


def event_args(js: Any, cid: str) -> list[tuple[str, list[Any]]]:
    return [(e["event"], e["args"]) for e in js.events[cid] if e["type"] == "event"]


@pytest.mark.parametrize("transports", [["websocket"], ["polling", "websocket"]], ids=["websocket", "upgrade"])
async def test_official_client_recovers(js: Any, serve: Serve, transports: list[str]) -> None:
    io, url = await start(serve, connection_state_recovery=RECOVERY)
    log = Log()
    recovering_app(io, log)
    first = await connect(js, "c1", url, {**RECONNECT_FAST, "transports": transports})
    if len(transports) > 1:
        await js.wait_event("c1", "upgrade")
    assert first["recovered"] is False
    assert await emit_ack(js, "c1", "bump") == [2]
    io.emit("before", 0)
    before = await js.wait_event("c1", "event", "before")
    assert before["args"][0] == 0 and isinstance(before["args"][1], str)  # the offset, appended

    await js.call({"cmd": "close_engine", "id": "c1"})
    assert (await js.wait_event("c1", "disconnect"))["reason"] == "forced close"
    again = await js.wait_event("c1", "connect", timeout=5)
    assert again["recovered"] is True
    assert again["sid"] == first["sid"]
    state = await js.call({"cmd": "state", "id": "c1"})
    assert state["recovered"] is True and state["connected"] is True

    connections = await log.count("connection", 2)
    sid = first["sid"]
    assert connections[0] == (sid, False, {}, [sid])
    assert connections[1] == (sid, True, {"n": 2}, sorted([sid, "r"]))
    assert log.of("disconnect") == [(sid, "transport close")]
    # Sequenced after the replay: the ack's answer comes after the CONNECT answer.
    assert await emit_ack(js, "c1", "bump") == [3]
    got = event_args(js, "c1")
    names = [name for name, _ in got]
    assert names == ["before", "missed", "room", "bin", "direct"]
    assert [args[:-1] for _, args in got] == [[0], [1], [2], [{"b": BLOB}], [5]]
    offsets = [args[-1] for _, args in got]
    assert all(isinstance(o, str) and o for o in offsets) and len(set(offsets)) == len(offsets)


async def test_recovery_wire(serve: Serve) -> None:
    io, url = await start(serve, connection_state_recovery=RECOVERY)
    log = Log()

    @io.on("connection")
    async def on_connection(socket: socketeer.Socket) -> None:
        log("socket", socket)

    @io.on("disconnect")
    async def gone(socket: socketeer.Socket, reason: str) -> None:
        log("disconnect", reason)

    raw = await RawSocket.open(url)
    try:
        await raw.send("40")
        answer = await raw.recv_text()
        assert re.fullmatch(r'40\{"sid":"[\w-]{20}","pid":"[\w-]{20}"\}', answer), answer  # sid, then pid
        sid, pid = orjson.loads(answer[2:])["sid"], orjson.loads(answer[2:])["pid"]
        socket = await log.first("socket")
        io.emit("x", 1)
        text = await raw.recv_text()
        match = re.fullmatch(r'42\["x",1,"([^"]+)"\]', text)
        assert match, text
        offset_x = match.group(1)
        io.emit("xb", b"\x09")
        match = re.fullmatch(r'451-\["xb",\{"_placeholder":true,"num":0\},"([^"]+)"\]', await raw.recv_text())
        assert match
        offset_xb = match.group(1)
        assert await raw.recv() == b"\x09"
        socket.emit("plain", 1, "a", {"b": None})  # a direct emit is stored too
        match = re.fullmatch(r'42\["plain",1,"a",\{"b":null\},"([^"]+)"\]', await raw.recv_text())
        assert match
        offset_plain = match.group(1)
        asked = asyncio.ensure_future(socket.emit_with_ack("ping1", 1, "two"))
        assert await raw.recv() == '420["ping1",1,"two"]'  # with an ack: no offset, not stored
        await raw.send("430[]")
        await asyncio.wait_for(asked, 5)
    finally:
        await raw.send_close()
        raw.close()
    assert await log.first("disconnect") == "transport close"
    io.emit("y", 2)
    again = await RawSocket.open(url)
    try:
        await again.send("40" + orjson.dumps({"pid": pid, "offset": offset_x}).decode())
        assert await again.recv() == '451-["xb",{"_placeholder":true,"num":0},"' + offset_xb + '"]'
        assert await again.recv() == b"\x09"
        assert await again.recv() == '42["plain",1,"a",{"b":null},"' + offset_plain + '"]'
        replay_y = await again.recv_text()
        assert re.fullmatch(r'42\["y",2,"[^"]+"\]', replay_y)
        # The missed packets come before the CONNECT answer, which has the same sid and pid.
        assert await again.recv() == f'40{{"sid":"{sid}","pid":"{pid}"}}'
        recovered = (await log.count("socket", 2))[1]
        assert recovered is not socket
        assert (recovered.id, recovered.pid, recovered.recovered) == (sid, pid, True)
    finally:
        again.close()


async def test_unknown_pid_or_offset_is_a_new_session(serve: Serve) -> None:
    io, url = await start(serve, connection_state_recovery=RECOVERY)
    log = Log()
    recovering_app(io, log)
    raw = await RawSocket.open(url)
    try:
        await raw.send('40{"pid":"nope","offset":"nope","extra":1}')
        answer = orjson.loads((await raw.recv_text())[2:])
        assert set(answer) == {"sid", "pid"} and answer["pid"] != "nope"
        connection = await log.first("connection")
        assert connection[1] is False
    finally:
        raw.close()


async def test_client_namespace_disconnect_is_not_recoverable(js: Any, serve: Serve) -> None:
    io, url = await start(serve, connection_state_recovery=RECOVERY)
    log = Log()
    recovering_app(io, log)
    raw = await RawSocket.open(url)
    try:
        first = await raw.connect()
        io.emit("x", 1)
        offset = orjson.loads((await raw.recv_text())[2:])[-1]
        await raw.send("41")
        assert (await log.first("disconnect"))[1] == "client namespace disconnect"
        await raw.send("40" + orjson.dumps({"pid": first["pid"], "offset": offset}).decode())
        second = orjson.loads((await raw.recv_text())[2:])
        assert second["sid"] != first["sid"]
        assert (await log.count("connection", 2))[1][1] is False
    finally:
        raw.close()


async def gone_after_one_broadcast(serve: Serve, now: list[float]) -> tuple[str, dict[str, Any], str]:
    """A recovering server on the clock ``now`` (moved by the test instead of waited for), and
    a client that received one broadcast, then left: ``(url, its CONNECT answer, the offset)``."""
    io, url = await start(serve, connection_state_recovery={"max_disconnection_duration": 120},
                          clock=lambda: now[0])
    log = Log()
    recovering_app(io, log)
    raw = await RawSocket.open(url)
    first = await raw.connect()
    io.emit("x", 1)
    offset = orjson.loads((await raw.recv_text())[2:])[-1]
    await raw.send_close()
    raw.close()
    await log.first("disconnect")
    return url, first, offset


async def test_recovery_expires(serve: Serve) -> None:
    now = [1000.0]
    url, first, offset = await gone_after_one_broadcast(serve, now)
    now[0] += 120.5  # max_disconnection_duration has passed
    again = await RawSocket.open(url)
    try:
        await again.send("40" + orjson.dumps({"pid": first["pid"], "offset": offset}).decode())
        texts = [await again.recv_text()]
        # Nothing is replayed: the first answer is the CONNECT of a new session.
        assert texts[0].startswith('40{"sid":"')
        assert orjson.loads(texts[0][2:])["sid"] != first["sid"]
    finally:
        again.close()


async def test_recovery_horizon_follows_the_server_clock(serve: Serve) -> None:
    """Just inside max_disconnection_duration on the injected clock, the session is recovered."""
    now = [1000.0]
    url, first, offset = await gone_after_one_broadcast(serve, now)
    now[0] += 119.5
    again = await RawSocket.open(url)
    try:
        await again.send("40" + orjson.dumps({"pid": first["pid"], "offset": offset}).decode())
        received = [await again.recv()]
        for _ in range(50):  # what was missed comes first, then the CONNECT
            last = received[-1]
            if isinstance(last, str) and last.startswith("40"):
                break
            received.append(await again.recv())
        assert orjson.loads(str(received[-1])[2:])["sid"] == first["sid"]
        assert str(received[0]).startswith('42["missed",1,')
    finally:
        again.close()


@pytest.mark.parametrize("skip", [True, False], ids=["skip_middlewares", "run_middlewares"])
async def test_middlewares_on_recovery(js: Any, serve: Serve, skip: bool) -> None:
    io, url = await start(serve, connection_state_recovery={"max_disconnection_duration": 120,
                                                             "skip_middlewares": skip})
    log = Log()
    recovering_app(io, log)

    @io.use
    def count(socket: socketeer.Socket) -> None:
        log("mw", socket.recovered)

    await connect(js, "c1", url, {**RECONNECT_FAST, "transports": ["websocket"]})
    io.emit("seen", 1)  # the client needs an offset to ask for recovery
    await js.wait_event("c1", "event", "seen")
    await js.call({"cmd": "close_engine", "id": "c1"})
    again = await js.wait_event("c1", "connect")
    assert again["recovered"] is True
    assert log.of("mw") == ([False] if skip else [False, True])


async def test_volatile_packets_get_no_offset_and_are_not_replayed(serve: Serve) -> None:
    """As the reference's session-aware adapter: only non-volatile EVENTs without ack are stored."""
    io, url = await start(serve, connection_state_recovery=RECOVERY)
    log = Log()

    @io.on("connection")
    async def on_connection(socket: socketeer.Socket) -> None:
        log("socket", socket)

    @io.on("disconnect")
    async def gone(socket: socketeer.Socket, reason: str) -> None:
        log("disconnect", reason)

    raw = await RawSocket.open(url)
    try:
        pid = (await raw.connect())["pid"]
        socket = await log.first("socket")
        io.emit("stored", 0)
        offset = orjson.loads((await raw.recv_text())[2:])[-1]
        io.volatile.emit("v", 1)
        assert await raw.recv() == '42["v",1]'
        socket.volatile.emit("v", 2)
        assert await raw.recv() == '42["v",2]'
        io.to(socket.id).volatile.emit("v", 3)
        assert await raw.recv() == '42["v",3]'
        io.emit("stored", 4)
        last = await raw.recv_text()
        assert re.fullmatch(r'42\["stored",4,"[^"]+"\]', last)
    finally:
        await raw.send_close()
        raw.close()
    await log.first("disconnect")
    again = await RawSocket.open(url)
    try:
        await again.send("40" + orjson.dumps({"pid": pid, "offset": offset}).decode())
        assert await again.recv() == last  # only the stored packet is replayed
        assert (await again.recv_text()).startswith('40{"sid":"' + socket.id)
    finally:
        again.close()
