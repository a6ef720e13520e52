"""The ``socketeer`` command, run as a user runs it: a subprocess serving a module's Server,
reached by a real client, stopped by SIGTERM (gracefully: the client is told)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

import socketeer

INTEROP = Path(__file__).resolve().parents[1] / "interop"
BUNDLE = INTEROP / "node_modules" / "socket.io-client" / "dist"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_cli(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "socketeer.cli", *args, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_version() -> None:
    code, out, _ = await run_cli("--version")
    assert code == 0
    assert out.strip() == f"socketeer {socketeer.__version__}"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module:io", "no module named 'no_such_module'"),
        ("socketeer:no_such_attr", "module 'socketeer' has no attribute 'no_such_attr'"),
        ("socketeer", "expected MODULE:ATTR"),
        ("socketeer:__version__", "neither a socketeer Server nor an ASGI application"),
    ],
)
async def test_run_explains_a_bad_target(target: str, message: str) -> None:
    code, _, err = await run_cli("run", target)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


async def test_run_serves_a_module_and_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "chatapp.py").write_text(textwrap.dedent('''
        import socketeer

        io = socketeer.Server()

        @io.on("add")
        def add(socket, a, b):          # a sync handler: its return value answers the ack
            return a + b
    '''))
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "socketeer.cli", "run", "chatapp:io", "--port", str(port), "--log-level", "info",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(20):
            while b"listening on" not in await proc.stderr.readline():
                pass
        client = socketeer.Client(f"http://127.0.0.1:{port}", transports=["websocket"], reconnection=False)
        reasons: list[str] = []
        gone = asyncio.Event()

        @client.on("disconnect")
        def disconnected(reason: str) -> None:
            reasons.append(reason)
            gone.set()

        await client.connect()
        assert await client.emit_with_ack("add", 2, 3, timeout=5) == 5
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(gone.wait(), 10)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        # The server closed the connection itself (no abrupt loss): the client was told.
        assert reasons == ["transport close"]
        await client.disconnect()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_demo_explains_a_missing_bundle(tmp_path: Path) -> None:
    code, _, err = await run_cli("demo", "--client-bundle-dir", str(tmp_path), "--port", str(free_port()))
    assert code == 2
    assert "npm install socket.io-client" in err


@pytest.mark.skipif(not (BUNDLE / "socket.io.min.js").is_file(), reason="npm packages not installed")
async def test_the_client_bundle_is_served_with_etag_and_304(serve) -> None:  # type: ignore[no-untyped-def]
    url = await serve(socketeer.Server(client_bundle_dir=BUNDLE))
    async with httpx.AsyncClient() as http:
        first = await http.get(url + "/socket.io/socket.io.min.js")
        assert first.status_code == 200
        assert first.headers["content-type"] == "application/javascript; charset=utf-8"
        assert first.content == (BUNDLE / "socket.io.min.js").read_bytes()
        etag = first.headers["etag"]
        assert etag == '"4.8.4"'
        again = await http.get(url + "/socket.io/socket.io.min.js", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        source_map = await http.get(url + "/socket.io/socket.io.min.js.map")
        assert source_map.status_code == 200
        assert source_map.headers["content-type"] == "application/json; charset=utf-8"
        missing = await http.get(url + "/socket.io/nothing.js")
        assert missing.status_code in (400, 404)
