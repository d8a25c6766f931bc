"""The runnable examples work from a clean checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_embed_oms_drives_one_order(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "embed_oms.py"), "--db",
                             f"sqlite:///{tmp_path / 'e.db'}"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "created 1, 0 duplicate(s)" in out and "created 0, 1 duplicate(s)" in out
    assert "after the worker: status allocated, 1 shipment(s)" in out
    assert "after delivery: status delivered, invoice(s): ['INV-" in out
