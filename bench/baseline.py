"""Run a bench against an older tree of Ordo, in the same run, to print figures side by side.

    from baseline import run_baseline
    out = run_baseline(__file__, ["--orders", "200", "--child"], ref=BASELINE)

The older tree is extracted with ``git archive`` into a temporary folder and imported in a child
interpreter in place of the installed (editable) package; the bench script itself is the current one,
so both trees run exactly the same workload through the public API. Nothing is written to the
repository. ``BASELINE`` is the last commit before the write-path redesign (tag ``baseline/write-path``).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

BASELINE = "abc673d"  # tag baseline/write-path
ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dsl", "engine", "forms", "designer_api", "builtin_templates")

_BOOT = """
import os, runpy, sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in repr(h).lower()]
sys.path_importer_cache.clear()
sys.path.insert(0, sys.argv[1])
script = sys.argv[2]
sys.path.insert(1, os.path.dirname(os.path.abspath(script)))  # the bench folder (its helpers: this module)
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
"""


def extract(ref: str, into: Path) -> Path:
    """The tree at ``ref`` as an importable ``ordo`` package; returns the folder to put on sys.path."""
    src = into / "src"
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, *PACKAGES], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    shim = into / "shim" / "ordo"
    shim.mkdir(parents=True)
    for name in PACKAGES:
        (shim / name).symlink_to(src / name, target_is_directory=True)
    return into / "shim"


def run_baseline(script: str, args: list[str], ref: str = BASELINE) -> str:
    """Run ``script args`` with the Ordo of ``ref``; return its standard output."""
    with tempfile.TemporaryDirectory(prefix="ordo-baseline-") as tmp:
        path = extract(ref, Path(tmp))
        done = subprocess.run([sys.executable, "-c", _BOOT, str(path), script, *args], capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the baseline run failed:\n{done.stderr[-3000:]}")
        return done.stdout
