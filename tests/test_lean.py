"""The lean executor (engine/lean.py): statements built once, run on the DBAPI cursor, give what SQLAlchemy
gives (values converted alike, errors mapped alike, every statement counted), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools

import pytest
import sqlalchemy as sa

from ordo.engine import lean
from ordo.engine.db import make_engine, write_connection
from ordo.engine.stats import count_statements

MD = sa.MetaData()
T = sa.Table("lean_probe", MD, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(50), unique=True),
             sa.Column("amount", sa.Numeric(18, 4)), sa.Column("day", sa.Date), sa.Column("at", sa.DateTime),
             sa.Column("data", sa.JSON), sa.Column("flag", sa.Boolean), sa.Column("version", sa.Integer,
                                                                                  server_default="1"))
INSERT = sa.insert(T).returning(*T.c)
BY_ID = sa.select(T).where(T.c.id == sa.bindparam("key"))
UPDATE = sa.update(T).where(T.c.id == sa.bindparam("_id")).returning(*T.c)
BY_IDS = sa.select(T.c.name).where(T.c.id.in_(sa.bindparam("ids", expanding=True))).order_by(T.c.id)
ROW = {"name": "a", "amount": decimal.Decimal("12.5"), "day": dt.date(2026, 1, 2), "at": dt.datetime(2026, 1, 2, 3, 4),
       "data": {"x": [1, "é"]}, "flag": True}


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    MD.create_all(engine)
    yield engine
    MD.drop_all(engine)
    engine.dispose()


def test_rows_as_sqlalchemy_gives_them_and_every_statement_counted(engine):
    with count_statements(engine) as counts, write_connection(engine) as conn:
        stored = lean.execute(conn, INSERT, ROW).one()
        assert stored.id and stored._mapping["amount"] == decimal.Decimal("12.5")
        lean_row = lean.execute(conn, BY_ID, {"key": stored.id}).first()._mapping
        sa_row = dict(conn.execute(BY_ID, {"key": stored.id}).first()._mapping)
        assert lean_row == sa_row and type(lean_row["flag"]) is bool and lean_row["data"] == {"x": [1, "é"]}
        assert isinstance(lean_row["day"], dt.date) and lean_row["at"] == dt.datetime(2026, 1, 2, 3, 4)
        changed = lean.execute(conn, UPDATE, {"_id": stored.id, "amount": decimal.Decimal("3")}).one()
        assert changed.amount == decimal.Decimal("3") and changed.name == "a"
        lean.execute(conn, sa.insert(T), [{"name": f"n{i}", "flag": False} for i in range(3)])  # executemany
        assert lean.execute(conn, sa.select(sa.func.count()).select_from(T)).scalar_one() == 4
        assert lean.execute(conn, BY_IDS, {"ids": [stored.id]}).scalars().all() == ["a"]  # SQLAlchemy runs it
        assert lean.execute(conn, BY_ID, {"key": -1}).first() is None
    # one per statement (the BEGIN on SQLite too), the same as through conn.execute
    assert counts.statements == 8 + (engine.dialect.name == "sqlite") and counts.commits == 1


def test_a_refused_write_is_sqlalchemys_integrity_error_and_the_store_unchanged(engine):
    with write_connection(engine) as conn:
        lean.execute(conn, INSERT, ROW)
    with pytest.raises(sa.exc.IntegrityError), write_connection(engine) as conn:
        lean.execute(conn, INSERT, {**ROW, "amount": 1})
        lean.execute(conn, INSERT, ROW)  # the same name
    with engine.connect() as conn:
        assert [r.amount for r in lean.execute(conn, sa.select(T.c.amount))] == [decimal.Decimal("12.5")]


def test_a_missing_value_is_refused_and_a_computed_default_is_computed_at_each_run(engine):
    ticks = itertools.count(1)
    later = sa.select(T.c.name).where(T.c.version < sa.bindparam("v", callable_=lambda: next(ticks)))
    with write_connection(engine) as conn:
        with pytest.raises(sa.exc.InvalidRequestError, match="key"):
            lean.execute(conn, BY_ID, {})
        lean.execute(conn, INSERT, ROW)
        assert lean.execute(conn, later).all() == []  # version 1 < 1: none
        assert [r.name for r in lean.execute(conn, later)] == ["a"]  # version 1 < 2


def test_percent_signs_and_a_parameter_used_twice_bind_as_sqlalchemy_binds_them(engine):
    """On PostgreSQL the SQL runs on psycopg's raw cursor ($n placeholders, rewritten once per statement)."""
    twice = sa.bindparam("n")
    stmt = sa.select((T.c.id % 2).label("odd"), sa.literal_column("'a%b'").label("text"), T.c.name).where(
        T.c.id == twice, T.c.version < twice + 5, T.c.name.like("a%"))
    with write_connection(engine) as conn:
        first = lean.execute(conn, INSERT, ROW).one()
        for _ in range(3):  # the first run reads the result's columns; the next ones reuse them
            assert tuple(lean.execute(conn, stmt, {"n": first.id}).one()) == (first.id % 2, "a%b", "a")
        assert lean.execute(conn, stmt, {"n": -1}).all() == []
        assert lean.execute(conn, sa.update(T).where(T.c.id == sa.bindparam("n")).values(flag=False),
                            {"n": first.id}).rowcount == 1
