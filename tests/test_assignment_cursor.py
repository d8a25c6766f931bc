"""A round-robin cursor moved in a transaction is locked by it: later picks in the transaction read no
cursor row and their moves are written at commit (engine/assignment/store.py). SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from ordo.engine.assignment.store import cursor_table
from ordo.engine.stats import count_statements

from .test_assignment import ROUND_ROBIN, claim, make


def _assign(tx, rec):
    return tx.app.features["assignment"].assign(tx, "approver", "claim", rec)


def _cursor(app):
    with app.engine.connect() as conn:
        return tuple(conn.execute(sa.select(cursor_table.c.last_user, cursor_table.c.turns)).one())


def test_picks_in_one_transaction_take_turns_and_the_cursor_is_written_at_commit(make_app, db_url):
    app = make(make_app, db_url, ROUND_ROBIN)
    recs = [claim(app) for _ in range(5)]
    with app.transaction("admin") as tx:
        assert _assign(tx, recs[0]) == ["ann"]
        with count_statements(app.engine) as counts:
            picks = [_assign(tx, r)[0] for r in recs[1:4]]
        assert picks == ["bob", "cid", "ann"]
        assert not [t for t in counts.texts if "ordo_assignment_cursor" in t], counts.texts
    assert _cursor(app) == ("ann", 4)
    with app.transaction("admin") as tx:  # the next transaction goes on from there
        assert _assign(tx, recs[4]) == ["bob"]
    assert _cursor(app) == ("bob", 5)
    app.close()


def test_a_savepoint_rolled_back_undoes_its_picks(make_app, db_url):
    app = make(make_app, db_url, ROUND_ROBIN)
    recs = [claim(app) for _ in range(4)]
    with app.transaction("admin") as tx:
        assert _assign(tx, recs[0]) == ["ann"]
        assert _assign(tx, recs[1]) == ["bob"]  # kept, written at commit
        sp = tx.conn.begin_nested()
        assert _assign(tx, recs[2]) == ["cid"]
        sp.rollback()
        assert _assign(tx, recs[3]) == ["cid"]  # the turn taken inside the savepoint is given again
    assert _cursor(app) == ("cid", 3)
    app.close()


def test_a_failed_transaction_moves_no_cursor(make_app, db_url):
    app = make(make_app, db_url, ROUND_ROBIN)
    recs = [claim(app) for _ in range(3)]
    try:
        with app.transaction("admin") as tx:
            _assign(tx, recs[0])
            _assign(tx, recs[1])
            raise RuntimeError("refused")
    except RuntimeError:
        pass
    with app.transaction("admin") as tx:
        assert _assign(tx, recs[2]) == ["ann"]
    assert _cursor(app) == ("ann", 1)
    app.close()
