"""Child processes shared by the end-to-end benchmarks: a load generator run to its JSON result."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["run_json"]


def run_json(
    argv: Sequence[str],
    cwd: Path,
    log_path: Path,
    budget: float,
    what: str = "load generator",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Runs ``argv`` (stderr to ``log_path``) for at most ``budget`` + 15 s and returns the JSON
    object on the last line of its stdout; when there is none, or it ran out of time, a failed
    result (``ok`` false) whose ``error`` names ``what`` and, for a missing result, ends with the
    log's tail."""
    with log_path.open("wb") as err:
        try:
            done = subprocess.run(
                argv,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                timeout=budget + 15,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"{what} did not finish in {budget + 15:.0f} s"}
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = log_path.read_text(errors="replace")[-800:]
        return {"ok": False, "error": f"{what} exited {done.returncode} without a result: {tail}"}
    return result
