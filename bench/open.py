"""CPU seconds to open the OMS app, with and without the app cache (dsl/cache.py). Not a test.

    python bench/open.py [--rounds 3] [--db sqlite:///path/to/oms.db]

Each figure is measured in a fresh process (a new process is what the cache is for), as the median of
``--rounds`` runs:

* ``open_app("builtin:oms", db, sync=False)`` in-process CPU (time.process_time), Ordo already imported:
  without the cache (``ORDO_CACHE=0``: loading and checking every definition), with a cold cache (the same,
  plus writing the entry) and with a warm one;
* importing ``ordo.engine.cli`` alone, and what ``ordo get`` imports in all (the engine's extensions and the
  command modules too) with the cyclic GC paused as the ``ordo`` command pauses it (``ordo/__main__.py``):
  the import share of the process below;
* the whole ``ordo get builtin:oms sales_order 1`` process (user + system CPU of the child), without the
  cache and with a warm one.

``--base REV`` (e.g. ``main`` or a commit from before the cache) prints the same figures of that revision of
Ordo (exported with ``git archive`` and imported first through ``PYTHONPATH``) next to these.

Without ``--db`` a temporary SQLite database is filled by ``ordo demo``. Children run with a temporary
cache folder and with Python's bytecode cache allowed (``PYTHONDONTWRITEBYTECODE`` removed), as installed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

OPEN = """
import json, sys, time
import ordo.engine.cli
from ordo.engine import open_app
t = time.process_time()
app = open_app("builtin:oms", sys.argv[1], sync=False)
took = time.process_time() - t
app.close()
print(json.dumps(took))
"""
IMPORT = """
import json, time
t = time.process_time()
import ordo.engine.cli
print(json.dumps(time.process_time() - t))
"""
# the same as the `ordo` command starts (ordo/__main__.py): the cyclic GC paused while Ordo is imported, then the
# modules and classes every command loads (the app's extensions, the command modules), as `ordo get` imports them
IMPORT_ALL = """
import gc, json, time
gc.disable()
t = time.process_time()
import importlib
import ordo.engine.cli
from ordo.engine.app import extensions
from ordo.engine.cli import command_modules
for name in (*extensions(), *command_modules()):
    importlib.import_module(name)
print(json.dumps(time.process_time() - t))
"""


def child(code: str, env: dict[str, str], *args: str) -> float:
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, check=True, capture_output=True, text=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def process_cpu(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


PACKAGES = ("dsl", "engine", "forms", "designer_api", "builtin_templates")  # ordo.NAME is the folder NAME


def export(rev: str, into: Path) -> Path:
    """Ordo at git revision ``rev`` as an importable ``ordo`` package under ``into`` (for PYTHONPATH)."""
    src = into / "src"
    src.mkdir(parents=True)
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    pkg = into / "path" / "ordo"
    pkg.mkdir(parents=True)
    for name in PACKAGES:
        (pkg / name).symlink_to(src / name)
    shutil.copy(src / "ordo" / "__main__.py", pkg / "__main__.py")
    return into / "path"


def measure(env: dict[str, str], db: str, tmp: Path, rounds: int, cache: Path) -> dict[str, list[float]]:
    off = {**env, "ORDO_CACHE": "0"}
    get = [sys.executable, "-m", "ordo", "get", "builtin:oms", "sales_order", "1", "--db", db, "--format", "json"]
    child(IMPORT, env)  # bytecode written once, as after an install

    def cold() -> float:
        shutil.rmtree(cache, ignore_errors=True)
        return child(OPEN, env, db)

    return {
        "open_app, no cache (ORDO_CACHE=0)": [child(OPEN, off, db) for _ in range(rounds)],
        "open_app, cold cache (load, check, store)": [cold() for _ in range(rounds)],
        "open_app, warm cache": [child(OPEN, env, db) for _ in range(rounds)],
        "import ordo.engine.cli": [child(IMPORT, env) for _ in range(rounds)],
        "imports of `ordo get` (GC paused, as `ordo`)": [child(IMPORT_ALL, env) for _ in range(rounds)],
        "`ordo get` process, no cache": [process_cpu(get, off, tmp) for _ in range(rounds)],
        "`ordo get` process, warm cache": [process_cpu(get, env, tmp) for _ in range(rounds)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--db", help="an OMS database (default: a temporary one made by `ordo demo`)")
    ap.add_argument("--base", metavar="REV", help="also measure this git revision of Ordo (e.g. main)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ordo-bench-open-"))
    try:
        cache = tmp / "cache"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ORDO_CACHE")}
        env["ORDO_CACHE_DIR"] = str(cache)
        db = args.db
        if db is None:
            db = f"sqlite:///{tmp / 'oms.db'}"
            subprocess.run([sys.executable, "-m", "ordo", "demo", "--db", db], env=env, cwd=tmp, check=True,
                           capture_output=True)
        columns = {"this tree": measure(env, db, tmp, args.rounds, cache)}
        if args.base:
            path = export(args.base, tmp / "base")
            base_env = {**env, "PYTHONPATH": os.pathsep.join([str(path), *filter(None, [env.get("PYTHONPATH")])])}
            columns[args.base] = measure(base_env, db, tmp, args.rounds, cache)
        print(f"CPU seconds, median of {args.rounds} fresh processes (builtin:oms on {db.split(':', 1)[0]})")
        print(f"  {'':45} " + " ".join(f"{name:>12}" for name in columns))
        for figure in columns["this tree"]:
            print(f"  {figure:45} " + " ".join(f"{statistics.median(c[figure]):12.3f}" for c in columns.values()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
