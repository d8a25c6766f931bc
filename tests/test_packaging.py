"""`pip install .` (not only -e) works: the wheel carries the templates, grammar and form templates."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_package_data(tmp_path):
    src = tmp_path / "src"  # build from a copy: no build/ left in the work tree, no clash with other builds
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__",
                                                             ".pytest_cache", ".hypothesis", ".ruff_cache", "*.db*"))
    out = tmp_path / "dist"
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                             "-q", "-w", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = out.glob("ordo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("ordo/dsl/expr/grammar.lark", "ordo/builtin_templates/starter/app.yaml",
                     "ordo/builtin_templates/starter/entities/invoice.yaml", "ordo/forms/templates/form.html",
                     "ordo/engine/cli/__init__.py", "ordo/__main__.py", "ordo/designer_api/server.py",
                     "ordo/forms/static/ordo-expr.js"):
        assert required in names, required
    assert any(n.endswith("entry_points.txt") for n in names)
    for init in src.glob("*/**/__init__.py"):  # every package of the source tree ships
        rel = init.relative_to(src)
        if rel.parts[0] in ("engine", "dsl", "forms", "designer_api", "builtin_templates"):
            assert f"ordo/{rel.as_posix()}" in names, f"{rel} missing from the wheel (pyproject packages)"
