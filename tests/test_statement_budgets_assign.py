"""Statement budgets of approval assignment: the user directory (role members, users) is read at most once
per transaction, however many flow runs the transaction holds, and not at all once this process has read it:
then each transaction reads only the directory's token (engine/directory_cache.py). bench/flows.py's batched run: one transaction of the
submitter creating ten records (ten flows, five for each approver role), then one per approver. Exact counts,
both databases; they only go down."""

from __future__ import annotations

import pytest

from ordo.engine import open_app
from ordo.engine.stats import count_statements

from .test_statement_budgets_flows import bench

# BEGIN + 10 records + the first instance, token and task (the next nine of each: ids taken ahead, SQLite
# in memory, PostgreSQL three nextval blocks each, rows written at commit) + the series' first number (SQLite:
# the next ones counted in memory; PostgreSQL: a nextval each) + the directory's token (the acting user and
# the two roles' members as read before), timeline, audit, notifications, instances, tokens, tasks (and SQLite's series counter) at commit; then each
# approver's transaction (SQLite: the instances of the inbox's tasks read together, flows/ahead.py, and their
# task, instance and record UPDATEs held back to one executemany each at commit, engine/held.py; PostgreSQL: no
# BEGINs, a row lock, a read and the three UPDATEs per instance approved)
BATCH_NOW = {"sqlite": 41, "postgresql": 97}
# the directory's token in each of the three transactions (the users and both roles' members: as read before)
DIRECTORY = 3


@pytest.fixture
def bench_app(db_url, tmp_path):
    with open_app(bench.write_app(tmp_path / "bench"), db_url) as app:
        bench.lifecycle(app, 0)  # the first instance registers the flow version
        bench.lifecycle(app, 1)  # and this process has read both approver roles' members
        yield app


def test_batched_lifecycles(bench_app):
    with count_statements(bench_app.engine) as counts:
        bench.batch(bench_app, 2, 10)
    directory = [t for t in counts.texts if "ordo_membership" in t or "ordo_user" in t or "ordo_directory" in t]
    assert len(directory) == DIRECTORY, "\n".join(directory)
    assert counts.commits == 3
    assert counts.statements == BATCH_NOW[bench_app.engine.dialect.name], "\n".join(counts.texts)
