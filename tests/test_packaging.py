"""`pip install .` (not only -e) works: the wheel carries the templates, grammar and form templates."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_package_data(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("ordo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("ordo/dsl/expr/grammar.lark", "ordo/builtin_templates/starter/app.yaml",
                     "ordo/builtin_templates/starter/entities/invoice.yaml", "ordo/forms/templates/form.html",
                     "ordo/engine/cli.py"):
        assert required in names, required
    assert any(n.endswith("entry_points.txt") for n in names)
    for init in ROOT.glob("*/**/__init__.py"):  # every package of the source tree ships
        rel = init.relative_to(ROOT)
        if rel.parts[0] in ("engine", "dsl", "forms", "designer_api", "builtin_templates"):
            assert f"ordo/{rel.as_posix()}" in names, f"{rel} missing from the wheel (pyproject packages)"
