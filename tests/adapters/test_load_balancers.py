"""Nodes behind real load balancers (Debian's ``haproxy`` and ``nginx``), with the shipped
configurations of ``deploy/``: three nodes on one Redis (``RedisAdapter``), official clients
polling first, spread over the nodes; every client connects, upgrades to WebSocket and
receives the broadcasts made on every node; a node stopped behind the balancer: its clients
reconnect to the others. And a mixed pool: socketeer and Node.js nodes behind one HAProxy.

HAProxy pins a client with its own cookie (the Node client keeps cookies with
``withCredentials``); nginx hashes the client's address, so each client here gets a loopback
address of its own (127.0.0.2, ...)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from mixed_cluster import NodeNode, counted, python_node

import socketeer

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CLIENTS = 9


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Pool:
    """The nodes behind the balancer: (name, url, stop) each, and the balancer's url."""

    nodes: list[tuple[str, str, Callable[[], Any]]]
    url: str
    python: list[socketeer.Server]


def start_haproxy(tmp: Path, port: int, backends: list[tuple[str, str]]) -> subprocess.Popen[bytes]:
    servers = "\n".join(f"    server {name} {url.removeprefix('http://')} check inter 300ms fall 1 rise 1 cookie {name}"
                        for name, url in backends)
    conf = tmp / "haproxy.cfg"
    conf.write_text((DEPLOY / "haproxy.cfg").read_text().replace("{bind}", f"127.0.0.1:{port}")
                    .replace("{servers}", servers))
    binary = shutil.which("haproxy")
    assert binary is not None
    subprocess.run([binary, "-c", "-q", "-f", str(conf)], check=True, timeout=10)
    log = (tmp / "haproxy.log").open("wb")
    return subprocess.Popen([binary, "-db", "-f", str(conf)], stdout=log, stderr=log)


def start_nginx(tmp: Path, port: int, backends: list[tuple[str, str]]) -> subprocess.Popen[bytes]:
    servers = "\n".join(f"    server {url.removeprefix('http://')} max_fails=1 fail_timeout=30s;"
                        for _, url in backends)
    site = (DEPLOY / "nginx.conf").read_text().replace("{bind}", f"127.0.0.1:{port}").replace("{servers}", servers)
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(f"""daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{site}
}}
""")
    binary = shutil.which("nginx")
    assert binary is not None
    subprocess.run([binary, "-t", "-q", "-p", str(tmp), "-c", str(conf)], check=True, timeout=10,
                   capture_output=True)
    log = (tmp / "nginx.log").open("wb")
    return subprocess.Popen([binary, "-p", str(tmp), "-c", str(conf)], stdout=log, stderr=log)


async def listening(port: int) -> None:
    async with asyncio.timeout(10):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return


def named(node: socketeer.Server, name: str) -> socketeer.Server:
    @node.on("whoami")
    def whoami(socket: socketeer.Socket) -> str:
        return name

    return node


@pytest_asyncio.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Any]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def python_nodes(count: int, redis_client: Any, key: str, serve: Any) -> list[tuple[str, str, Any, Any]]:
    nodes = []
    for i in range(count):
        io = named(python_node(redis_client, key).io, f"py{i + 1}")
        nodes.append((f"py{i + 1}", await serve(io), io.shutdown, io))
    return nodes


@pytest_asyncio.fixture(params=["haproxy", "nginx"])
async def pool(request: pytest.FixtureRequest, tmp_path: Path, redis_client: Any, cluster_key: str,
               serve: Any) -> AsyncIterator[Pool]:
    if shutil.which(request.param) is None:
        pytest.fail(f"{request.param} is not installed (tools/bootstrap.sh installs it)")
    nodes = await python_nodes(3, redis_client, cluster_key, serve)
    await counted(nodes[0][3].sockets.adapter, 3)
    port = free_port()
    start = start_haproxy if request.param == "haproxy" else start_nginx
    proc = start(tmp_path, port, [(name, url) for name, url, _, _ in nodes])
    try:
        await listening(port)
        yield Pool([(n, u, stop) for n, u, stop, _ in nodes], f"http://127.0.0.1:{port}", [io for *_, io in nodes])
    finally:
        proc.terminate()
        proc.wait(10)


def client_options(balancer: str, i: int) -> dict[str, Any]:
    """Polling first (the default transports), and what pins this client to its node."""
    opts: dict[str, Any] = {"reconnectionDelay": 200, "randomizationFactor": 0, "forceNew": True}
    if balancer == "haproxy":
        opts["withCredentials"] = True
    else:
        opts["localAddress"] = f"127.0.0.{i + 2}"
    return opts


async def whoami(js: Any, cid: str) -> str:
    reply = await js.call({"cmd": "emit", "id": cid, "event": "whoami", "args": [], "ack": True})
    assert reply["ok"], reply
    return str(reply["ack"][0])


async def connect_all(js: Any, url: str, balancer: str) -> dict[str, str]:
    where = {}
    for i in range(CLIENTS):
        cid = f"c{i}"
        reply = await js.call({"cmd": "connect", "id": cid, "url": url, "opts": client_options(balancer, i)})
        assert reply["ok"], reply
        await js.wait_event(cid, "connect", timeout=10)
        await js.wait_event(cid, "upgrade", timeout=10)  # it began on polling, then upgraded
        where[cid] = await whoami(js, cid)
    return where


async def everyone_hears_every_node(js: Any, emitters: list[tuple[str, Any]], round_: str) -> None:
    for name, emit in emitters:
        emit(f"from_{round_}", name)
    for i in range(CLIENTS):
        got = sorted([(await js.wait_event(f"c{i}", "event", event=f"from_{round_}"))["args"][0]
                      for _ in emitters])
        assert got == sorted(name for name, _ in emitters)


async def test_spread_upgraded_and_served_by_every_node(js: Any, pool: Pool, request: pytest.FixtureRequest) -> None:
    balancer = request.node.callspec.params["pool"]
    where = await connect_all(js, pool.url, balancer)
    assert len(set(where.values())) >= 2, where  # spread over the nodes, no client refused
    emitters = [(f"py{i + 1}", io.emit) for i, io in enumerate(pool.python)]
    await everyone_hears_every_node(js, emitters, "all")
    # A node stops: its clients reconnect through the balancer to the others.
    victim = max(set(where.values()), key=list(where.values()).count)
    (_, _, stop), = [n for n in pool.nodes if n[0] == victim]
    await stop(timeout=1)
    moved = [cid for cid, name in where.items() if name == victim]
    for cid in moved:
        await js.wait_event(cid, "disconnect", timeout=10)
        await js.wait_event(cid, "connect", timeout=15)
        assert await whoami(js, cid) != victim
    alive = [(name, io.emit) for name, io in zip([f"py{i + 1}" for i in range(3)], pool.python, strict=True)
             if name != victim]
    await everyone_hears_every_node(js, alive, "survivors")
    for i in range(CLIENTS):
        await js.call({"cmd": "disconnect", "id": f"c{i}"})


async def test_a_mixed_pool_behind_haproxy(js: Any, tmp_path: Path, redis_url: str, redis_client: Any,
                                           cluster_key: str, serve: Any) -> None:
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed (tools/bootstrap.sh installs it)")
    nodes = await python_nodes(2, redis_client, cluster_key, serve)
    node = await NodeNode.start(redis_url, cluster_key)
    port = free_port()
    proc = None
    try:
        await counted(nodes[0][3].sockets.adapter, 3)
        proc = start_haproxy(tmp_path, port, [(n, u) for n, u, _, _ in nodes] + [("node", node.url)])
        await listening(port)
        where = await connect_all(js, f"http://127.0.0.1:{port}", "haproxy")
        assert set(where.values()) == {"py1", "py2", "node"}  # round robin over all three
        emitters = [(name, io.emit) for name, _, _, io in nodes]
        for name, emit in emitters:
            emit("from_mixed", name)
        reply = await js.call({"cmd": "emit", "id": next(c for c, n in where.items() if n == "node"),
                               "event": "emit", "args": ["from_mixed", "node"]})
        assert reply["ok"]
        for i in range(CLIENTS):
            got = sorted([(await js.wait_event(f"c{i}", "event", event="from_mixed"))["args"][0] for _ in range(3)])
            assert got == ["node", "py1", "py2"]
        for i in range(CLIENTS):
            await js.call({"cmd": "disconnect", "id": f"c{i}"})
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        await node.stop()
