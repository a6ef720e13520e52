"""Python side of the Node interop harness.

``JSDriver`` runs ``node driver.js`` (see that file for the command set) and
turns its JSON-lines protocol into awaitables: ``call()`` sends a command and
waits for its reply, ``wait_event()`` waits for something a socket received.

Binary values cross the pipe as ``{"$bin": "<base64>"}``; ``call()`` encodes
``bytes`` on the way out and every reply/event is decoded back to ``bytes``,
so tests compare plain Python values.

Note that the official client multiplexes: ``io(url)`` reuses one connection
for different namespaces of the same origin unless ``opts.forceNew`` is set.

``RefServer`` runs ``ref_server.js``, the Node socket.io reference server.
Both are usable outside pytest (benchmarks); ``conftest.py`` wraps them in
fixtures.
"""

# Per-call deadlines are part of this API: a test states how long one step
# may take, which reads better than wrapping every call in asyncio.timeout().

from __future__ import annotations

import asyncio
import base64
import collections
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# Modules the harness require()s; a partial install should read as "not ready".
_REQUIRED_MODULES = (
    "socket.io-client",
    "socket.io",
    "engine.io-client",
    "socket.io-msgpack-parser",
    "@socket.io/redis-adapter",
    "@socket.io/redis-emitter",
)

# Binary payloads can be large; the default 64 KiB line limit is too small.
_LINE_LIMIT = 64 * 1024 * 1024


def node_modules_ready() -> bool:
    """True when node is on PATH and ``npm ci`` has been run in this folder."""
    if shutil.which("node") is None:
        return False
    modules = HERE / "node_modules"
    return all((modules / name / "package.json").is_file() for name in _REQUIRED_MODULES)


def to_js(obj: Any) -> Any:
    """Replace bytes-like values (at any depth) with ``{"$bin": base64}``."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"$bin": base64.b64encode(bytes(obj)).decode("ascii")}
    if isinstance(obj, dict):
        return {k: to_js(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_js(v) for v in obj]
    return obj


def from_js(obj: Any) -> Any:
    """Inverse of :func:`to_js`: ``{"$bin": ...}`` becomes ``bytes``."""
    if isinstance(obj, dict):
        if len(obj) == 1 and isinstance(obj.get("$bin"), str):
            return base64.b64decode(obj["$bin"])
        return {k: from_js(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_js(v) for v in obj]
    return obj


class DriverError(RuntimeError):
    """The driver process died or broke protocol."""


class JSDriver:
    """Controls one ``node driver.js`` process.

    ``events[id]`` keeps every event line received for a socket, in order.
    ``wait_event`` hands each matching event out once, oldest first, so an
    event that arrived before the wait started is not missed and a later wait
    for the same type gets the next one. Reusing an id for a new client keeps
    the old history in ``events[id]`` but never hands it out again.
    """

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._next_req = 0
        self._pending: dict[int, asyncio.Future[dict]] = {}
        self._pending_cmds: dict[int, dict] = {}
        self.events: dict[str, list[dict]] = collections.defaultdict(list)
        self._consumed: dict[str, set[int]] = collections.defaultdict(set)
        self._changed = asyncio.Condition()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self._dead: DriverError | None = None
        self._reader = asyncio.create_task(self._read_stdout())
        self._err_reader = asyncio.create_task(self._read_stderr())

    @classmethod
    async def start(cls, node: str = "node") -> JSDriver:
        proc = await asyncio.create_subprocess_exec(
            node,
            "driver.js",
            cwd=HERE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
        )
        return cls(proc)

    @property
    def stderr(self) -> str:
        """Recent driver stderr, for failure messages."""
        return "".join(self._stderr_tail)

    async def call(self, cmd: dict, timeout: float | None = 10.0) -> dict:
        """Send one command and return its decoded reply (``ok`` may be False).

        Acked emits reply only when the ack arrives, hence the timeout.
        """
        if self._dead is not None:
            raise self._dead
        self._next_req += 1
        req = self._next_req
        fut: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self._pending[req] = fut
        self._pending_cmds[req] = cmd
        line = json.dumps({**to_js(cmd), "req": req}) + "\n"
        try:
            self._proc.stdin.write(line.encode())
            await self._proc.stdin.drain()
            return await asyncio.wait_for(fut, timeout)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise self._died(f"driver stdin closed: {exc}") from exc
        except TimeoutError:
            raise TimeoutError(f"no reply to {cmd!r} within {timeout}s") from None
        finally:
            self._pending.pop(req, None)
            self._pending_cmds.pop(req, None)

    async def wait_event(self, id: str, type: str, event: str | None = None, timeout: float = 5.0) -> dict:
        """Return the oldest not-yet-returned event of ``type`` for ``id``.

        ``event`` additionally filters on the event name (for type "event").
        """

        def take() -> dict | None:
            seen = self._consumed[id]
            for i, ev in enumerate(self.events[id]):
                if i in seen or ev.get("type") != type:
                    continue
                if event is not None and ev.get("event") != event:
                    continue
                seen.add(i)
                return ev
            return None

        async def wait() -> dict:
            async with self._changed:
                while True:
                    found = take()
                    if found is not None:
                        return found
                    if self._dead is not None:
                        raise self._dead
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            what = f"{type}" + (f" {event!r}" if event is not None else "")
            got = [(e.get("type"), e.get("event")) for e in self.events.get(id, [])]
            raise TimeoutError(f"{id}: no {what} within {timeout}s; events so far: {got}") from None

    async def close(self, timeout: float = 5.0) -> None:
        """Ask the driver to exit; kill it if it does not."""
        if self._proc.returncode is None and self._dead is None:
            try:
                await self.call({"cmd": "exit"}, timeout=timeout)
            except (DriverError, TimeoutError):
                pass
        try:
            await asyncio.wait_for(self._proc.wait(), timeout)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()
        for task in (self._reader, self._err_reader):
            task.cancel()
        await asyncio.gather(self._reader, self._err_reader, return_exceptions=True)

    # ------------------------------------------------------------ internals

    def _died(self, why: str) -> DriverError:
        if self._dead is None:
            self._dead = DriverError(f"{why}\n--- driver stderr ---\n{self.stderr}")
        return self._dead

    async def _read_stdout(self) -> None:
        try:
            while True:
                raw = await self._proc.stdout.readline()
                if not raw:
                    break
                try:
                    msg = from_js(json.loads(raw))
                except ValueError:
                    self._stderr_tail.append(f"[non-JSON stdout] {raw!r}\n")
                    continue
                await self._dispatch(msg)
        finally:
            # Whatever ended the stream, nobody may wait forever on it.
            err = self._died("driver stdout closed")
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(err)
            async with self._changed:
                self._changed.notify_all()

    async def _dispatch(self, msg: dict) -> None:
        if "req" in msg:
            fut = self._pending.get(msg["req"])
            if fut is not None and not fut.done():
                cmd = self._pending_cmds.get(msg["req"], {})
                if msg.get("ok") and cmd.get("cmd") in ("connect", "eio_open"):
                    # The id now names a fresh client: its waits must not be
                    # answered by events of the one it replaced. The driver
                    # replies before any event of the new client, so
                    # everything recorded so far belongs to the old one.
                    cid = cmd.get("id")
                    self._consumed[cid].update(range(len(self.events[cid])))
                fut.set_result(msg)
            elif msg["req"] is None:
                # The driver could not even read a request id (malformed line).
                self._stderr_tail.append(f"[unmatched reply] {msg}\n")
            return
        async with self._changed:
            self.events[msg.get("id", "")].append(msg)
            self._changed.notify_all()

    async def _read_stderr(self) -> None:
        while True:
            raw = await self._proc.stderr.readline()
            if not raw:
                return
            text = raw.decode(errors="replace")
            self._stderr_tail.append(text)
            if os.environ.get("SOCKETEER_INTEROP_VERBOSE"):
                sys.stderr.write(f"[driver] {text}")


class RefServer:
    """A running ``ref_server.js``; ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        # Output after the "listening" line is discarded, but must be read so
        # a chatty server can never block on a full pipe.
        self._drains = [asyncio.create_task(self._discard(stream)) for stream in (proc.stdout, proc.stderr)]

    @classmethod
    async def start(cls, options: dict | None = None, port: int = 0, timeout: float = 10.0) -> RefServer:
        """Start the server; port 0 lets the OS choose a free one."""
        args = ["ref_server.js", "--port", str(port)]
        if options:
            args += ["--options", json.dumps(options)]
        proc = await asyncio.create_subprocess_exec(
            "node",
            *args,
            cwd=HERE,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        except TimeoutError:
            line = b""
        text = line.decode().strip()
        if not text.startswith("listening "):
            if proc.returncode is None:
                proc.kill()
            err = await proc.stderr.read()
            await proc.wait()
            raise RuntimeError(f"ref_server.js did not start: {text!r}\n{err.decode(errors='replace')}")
        return cls(proc, int(text.split()[1]))

    @staticmethod
    async def _discard(stream: asyncio.StreamReader) -> None:
        while await stream.read(65536):
            pass

    async def stop(self, timeout: float = 5.0) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        for task in self._drains:
            task.cancel()
        await asyncio.gather(*self._drains, return_exceptions=True)
