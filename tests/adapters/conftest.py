"""A real Redis for the cluster tests: the one on 127.0.0.1:6379 when it answers, else a
``redis-server`` started here on a free port (a fresh machine passes too). Tests never flush
anything: each uses a key prefix of its own."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if _pings(6379):
        yield "redis://127.0.0.1:6379/0"
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("no Redis answers on 127.0.0.1:6379 and redis-server is not installed (tools/bootstrap.sh)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _pings(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def cluster_key() -> str:
    """A channel prefix of this test's own: the cluster tests share no channel."""
    return f"socketeer-test-{uuid.uuid4().hex[:12]}"


from mixed_cluster import cluster  # noqa: E402  (the fixture, for every cluster test)

__all__ = ["cluster", "cluster_key", "redis_url"]
