"""docs/flows.md documents what a second app's author needs: every timeline action the engine writes,
every SMTP setting the outbox reads, and the Python API of flows."""

from __future__ import annotations

import re
from pathlib import Path

import ordo.engine.flows
from ordo.engine import outbox
from ordo.engine.flows.runtime import FlowRuntime

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "flows.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return DOC.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_every_timeline_action_is_documented():
    written: set[str] = set()
    for path in Path(ordo.engine.flows.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        written |= set(re.findall(r'history\(\s*"([a-z_]+)"', text))
        written |= set(re.findall(r'"(allocated|released|consumed)"', text))
        written |= set(re.findall(r'"(auto_approved|assigned|cc|notified)"', text))
    written |= {"completed", "rejected", "withdrawn", "cancelled"}  # finish(status)
    table = _section("Timeline")
    documented = set(re.findall(r"`([a-z_]+)`", table))
    assert written - documented == set()


def test_every_smtp_setting_is_documented():
    read = set(re.findall(r"ORDO_SMTP_[A-Z]+", Path(outbox.__file__).read_text(encoding="utf-8")))
    assert read and read <= set(re.findall(r"ORDO_SMTP_[A-Z]+", _section("Notifications")))


def test_the_python_api_section_names_every_public_method():
    api = _section("Python API")
    public = {n for n in vars(FlowRuntime) if not n.startswith("_") and callable(getattr(FlowRuntime, n))}
    public -= {"flow", "flow_for", "on_write", "on_timer", "wake", "timer_key_prefix"}  # engine internals
    assert {n for n in public if f"flows.{n}(" not in api} == set()
    assert "goto" in _section("Node kinds") and "open tasks are cancelled and the flow moves" in DOC
