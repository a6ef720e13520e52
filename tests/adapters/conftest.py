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
from pathlib import Path

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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cluster_ports(count: int) -> list[int]:
    """Ports ``p`` with ``p + 10000`` free too (a cluster node's bus port)."""
    ports: list[int] = []
    candidate = 20000 + uuid.uuid4().int % 20000
    while len(ports) < count:
        candidate += 1
        if all(_bindable(p) for p in (candidate, candidate + 10000)):
            ports.append(candidate)
    return ports


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class PrivateRedis:
    """A ``redis-server`` of one test's own, which the test may stop and start again on the
    same port (the shared one is never touched)."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _pings(self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                pytest.fail("redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (tools/bootstrap.sh installs it)")
    redis = PrivateRedis(server)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """A Redis Cluster of three primaries of the suite's own (ports returned), made with
    ``redis-cli --cluster create``."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        pytest.fail("redis-server and redis-cli are needed (tools/bootstrap.sh installs them)")
    folder = tmp_path_factory.mktemp("redis-cluster")
    ports = _cluster_ports(3)
    procs = [subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
         "--cluster-config-file", str(folder / f"nodes-{port}.conf"), "--save", "", "--appendonly", "no",
         "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
    try:
        deadline = time.monotonic() + 10
        while not all(_pings(port) for port in ports):
            if time.monotonic() > deadline:
                pytest.fail("the cluster's redis-servers did not start")
            time.sleep(0.05)
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-replicas", "0",
                        "--cluster-yes"], check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 20
        while True:
            states = [subprocess.run([cli, "-p", str(p), "cluster", "info"], capture_output=True, text=True,
                                     timeout=5).stdout for p in ports]
            if all("cluster_state:ok" in state for state in states):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"the Redis Cluster did not come up: {states}")
            time.sleep(0.1)
        yield ports
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(10)


@pytest.fixture
def sentinel(private_redis: PrivateRedis, tmp_path: Path) -> Iterator[int]:
    """A Redis Sentinel watching ``private_redis`` as "mymaster"; its port."""
    server = shutil.which("redis-server")
    assert server is not None
    (port,) = _cluster_ports(1)
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {private_redis.port} 1\n")
    proc = subprocess.Popen([server, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _pings(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("redis-sentinel did not start")
            time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def cluster_key() -> str:
    """A channel prefix of this test's own: the cluster tests share no channel."""
    return f"socketeer-test-{uuid.uuid4().hex[:12]}"


from mixed_cluster import cluster  # noqa: E402  (the fixture, for every cluster test)

__all__ = ["PrivateRedis", "cluster", "cluster_key", "private_redis", "redis_cluster", "redis_url", "sentinel"]
