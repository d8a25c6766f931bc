"""Shared fixtures: every store-level test runs on SQLite and, when
``ORDO_TEST_PG_URL`` is set, on PostgreSQL (each test in its own schema)."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("ORDO_TEST_PG_URL")

# the app cache (dsl/cache.py) of this test process and the commands it runs: a fresh folder, never ~/.cache
_CACHE_DIR = tempfile.mkdtemp(prefix="ordo-test-cache-")
os.environ["ORDO_CACHE_DIR"] = _CACHE_DIR
atexit.register(shutil.rmtree, _CACHE_DIR, True)
BACKENDS = ["sqlite", "pg"]


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"  # type: ignore[operator]
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A URL of a fresh PostgreSQL schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> Iterator[str]:
    """A fresh empty database: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if not PG_URL:
        pytest.skip("ORDO_TEST_PG_URL not set")
    with pg_schema() as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (tests of real concurrency)."""
    if not PG_URL:
        pytest.skip("ORDO_TEST_PG_URL not set")
    with pg_schema() as url:
        yield url


def write_app(root: Path, files: dict[str, str], name: str = "testapp") -> Path:
    """Write an app folder: ``files`` maps relative paths to YAML text (dedented)."""
    root.mkdir(parents=True, exist_ok=True)
    files = {"app.yaml": f"name: {name}\nversion: 1\n", **files}
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def make_app(tmp_path):
    counter = iter(range(1000))

    def make(files: dict[str, str], name: str = "testapp") -> Path:
        return write_app(tmp_path / f"app{next(counter)}", files, name)

    return make
