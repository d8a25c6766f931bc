"""Evaluate compiled JavaScript expressions under Node (a long-lived process per test module), for the
tests that check the browser back-end against the Python and SQL ones."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import ordo.forms

RUNTIME = Path(ordo.forms.__file__).parent / "static" / "ordo-expr.js"
RUNNER = Path(__file__).parent / "js" / "eval_runner.js"
NODE = shutil.which("node")


def encode(value: Any) -> Any:
    """A Python value as the runner's typed JSON (numbers and dates keep their kind)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return {"$n": str(value), "i": True}
    if isinstance(value, (Decimal, float)):
        return {"$n": str(value), "i": False}
    if isinstance(value, dt.datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    raise TypeError(type(value).__name__)


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "$n" in value:
            return int(value["$n"]) if value.get("i") else Decimal(value["$n"])
        if "$d" in value:
            return dt.date.fromisoformat(value["$d"])
        if "$t" in value:
            return dt.datetime.fromisoformat(value["$t"])
    return value


class Node:
    """One ``node`` process evaluating functions on records, request by request."""

    def __init__(self) -> None:
        assert NODE is not None
        self.proc = subprocess.Popen([NODE, str(RUNNER), str(RUNTIME)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, encoding="utf-8")

    def evaluate(self, src: str, records: list[dict], now: dt.datetime | None = None) -> list[Any]:
        req = {"src": src, "records": [encode(r) for r in records], "now": now.isoformat() if now else None}
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if "error" in reply:
            raise AssertionError(f"JavaScript failed: {reply['error']}\n{src}")
        return [decode(v) for v in reply["values"]]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)
