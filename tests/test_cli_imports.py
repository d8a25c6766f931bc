"""What an ``ordo get`` process imports (issue 11: opening the OMS app with a warm cache stays cheap): a command
loads only the subsystems it uses, so none of these can come back into its imports unnoticed."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ordo.engine.cli import build_parser
from ordo.engine.features import Features, Later

# run `ordo ARGS...` as `python -m ordo` does, then write the names of the modules it imported
RUN = """
import atexit, gc, json, runpy, sys
out = sys.argv.pop(1)
before = sum(s["collections"] for s in gc.get_stats())  # Python's own start-up (site, .pth files) ran some

def built():  # definition models whose pydantic validator was built (Model's defer_build: at first use)
    from ordo.dsl.base import Model
    todo, found = [Model], []
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__dict__.get("__pydantic_complete__"):
            found.append(cls.__name__)
    return sorted(found)

atexit.register(lambda: open(out, "w").write(json.dumps(
    {"modules": sorted(sys.modules), "collections": sum(s["collections"] for s in gc.get_stats()) - before,
     "built": built()})))
sys.argv[0] = "ordo"
runpy.run_module("ordo", run_name="__main__")
"""

NEVER_ON_SQLITE = (
    "sqlalchemy.dialects.postgresql",  # partial indexes declare their where-clause per dialect at DDL time
    "psycopg",
    "argon2",  # imported when a password is first hashed or checked
    "smtplib",  # when an email is sent
    "xml",  # charts escape their text themselves (xml.sax.saxutils brought urllib.request and http.client)
    "multiprocessing",  # ordo worker --processes
    "yaml",  # PyYAML: at the first read of a definition file (dsl/yaml_parse.py), never for a cached app
    # extensions whose runtime serves explicit calls only: built at the first lookup (engine/features.py)
    "ordo.engine.intake.runner",
    "ordo.engine.allocation.runtime",
    "ordo.engine.generate.runner",
    "ordo.engine.scenario.runner",
)


def process(tmp_path: Path, *argv: str) -> dict:
    """What the process running ``ordo ARGV`` imported (``modules``) and how many garbage ``collections`` ran."""
    out = tmp_path / "process.json"
    result = subprocess.run([sys.executable, "-c", RUN, str(out), *argv], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def oms_db(tmp_path_factory) -> tuple[Path, str]:
    where = tmp_path_factory.mktemp("oms")
    db = f"sqlite:///{where / 'oms.db'}"
    subprocess.run([sys.executable, "-m", "ordo", "demo", "--db", db], check=True, capture_output=True, cwd=where)
    return where, db


def test_a_warm_sqlite_get_process_imports_and_builds_only_what_it_uses(oms_db):
    where, db = oms_db
    argv = ("get", "builtin:oms", "sales_order", "1", "--db", db, "--format", "json")
    process(where, *argv)  # the app cache is warm from here on
    found = process(where, *argv)
    modules = found["modules"]
    assert "ordo.engine.records" in modules  # it did open the app
    assert found["built"] == []  # nor any definition model's validator (values checked at load: model_construct)
    for name in NEVER_ON_SQLITE:
        assert not [m for m in modules if m == name or m.startswith(f"{name}.")], name


def test_a_get_process_does_not_walk_its_long_lived_objects_again(oms_db):
    """The garbage collector is paused while Ordo is imported and the app opened, then those objects are frozen
    (ordo/__main__.py, cli.common.long_lived): a few collections, not ~250 walking them again and again."""
    where, db = oms_db
    assert process(where, "get", "builtin:oms", "sales_order", "1", "--db", db, "--format", "json")["collections"] < 20


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_the_parser_of_one_command_declares_it_as_the_full_parser_does():
    full = commands(build_parser())
    assert len(full) > 30
    for name, parser in full.items():
        one = commands(build_parser(name))
        assert list(one) == [name]
        assert one[name].format_help() == parser.format_help()
    assert commands(build_parser("no-such-command")).keys() == full.keys()  # the error lists every command


def test_a_later_feature_is_built_once_at_its_first_lookup():
    built = []
    features = Features(plain=1)
    features["lazy"] = Later(lambda: built.append(1) or "runtime")
    assert built == [] and features["plain"] == 1 and features.get("missing", 2) == 2
    assert features["lazy"] == features.get("lazy") == "runtime" and built == [1]
