"""The demo in a real browser: Debian's Chromium, headless, driven by playwright-core.

The page is served by socketeer and loads the official client bundle that socketeer serves;
two pages chat through a room, with typing, delivery ticks, an image, and the upgrade to
WebSocket. The screenshot is kept in artifacts/ for a person to look at.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from socketeer.demo import create_app, find_client_bundle

INTEROP = Path(__file__).resolve().parents[1] / "interop"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def _chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser_ready() -> str:
    chromium = _chromium()
    ready = chromium is not None and (INTEROP / "node_modules" / "playwright-core").is_dir()
    if not ready:
        if os.environ.get("CI"):
            pytest.fail("Chromium or playwright-core missing: tools/bootstrap.sh installs both")
        pytest.skip("Chromium or playwright-core missing")
    assert chromium is not None
    return chromium


async def test_two_pages_chat(serve, browser_ready: str) -> None:  # type: ignore[no-untyped-def]
    bundle = find_client_bundle(INTEROP)
    assert bundle is not None
    url = await serve(create_app(bundle))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "demo-chat.png"
    proc = await asyncio.create_subprocess_exec(
        "node", "browser_demo.js", url + "/", str(shot), cwd=INTEROP,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CHROMIUM": browser_ready},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    assert lines, f"no result from the browser script: {err.decode()[-2000:]}"
    result = json.loads(lines[-1])
    assert result["ok"], result.get("error")
    assert result["refusal"] == 'Pick a nickname first ({"field":"nick"})'
    assert result["members"] == ["alice", "bob"]
    assert "(websocket)" in result["transport"]
    assert result["typing"] == "bob is typing…"
    assert result["bobTick"] == "✓✓"
    assert result["received"] == ["hi bob 👋"]
    assert result["image"] == 1
    assert result["errors"] == []
    assert shot.stat().st_size > 1000
