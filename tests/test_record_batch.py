"""Transaction.create_many: records that cannot depend on each other in one INSERT, their names in one
statement; any other entity one record at a time. Every record is validated, audited and seen by listeners."""

from __future__ import annotations

import pytest

from ordo.engine import ValidationFailed, open_app
from ordo.engine.actor import User
from ordo.engine.stats import count_statements

APP = {
    "entities/bin.yaml": """
        name: bin
        naming: "BIN-{####}"
        fields:
          code: {type: string, required: true}
    """,
    "entities/pick.yaml": """
        name: pick
        naming: "PK-{#####}"
        fields:
          bin: {type: link, entity: bin, required: true}
          qty: {type: integer, required: true, min: 1}
          note: {type: string}
    """,
    "entities/tally.yaml": """
        name: tally
        naming: "TL-{#####}"
        fields:
          qty: {type: integer, required: true}
          twice: {type: computed, expr: "qty * 2"}
    """,
}
ADMIN = User("admin", ("admin",), True, {})


def test_independent_records_are_inserted_together_in_order(make_app, db_url):
    with open_app(make_app(APP), db_url) as app:
        seen: list[str] = []
        app.listeners.append(lambda tx, event: seen.append(event.after["name"]) if event.entity == "pick" else None)
        with app.transaction(ADMIN) as tx:
            b = tx.create("bin", {"code": "A"})
            tx.create("pick", {"bin": b["id"], "qty": 1})  # the series exists (and its sequence)
            with count_statements(app.engine) as counts:
                made = tx.create_many("pick", [{"bin": b["id"], "qty": q, "note": f"n{q}"} for q in (3, 1, 2)])
            # the names (on SQLite counted in memory once the transaction holds the series), the INSERT (the
            # audit rows at commit)
            assert counts.statements == (1 if app.engine.dialect.name == "sqlite" else 2), counts.texts
        assert [r["qty"] for r in made] == [3, 1, 2] and [r["note"] for r in made] == ["n3", "n1", "n2"]
        assert [r["name"] for r in made] == ["PK-00002", "PK-00003", "PK-00004"]
        assert seen == ["PK-00001", "PK-00002", "PK-00003", "PK-00004"]
        assert all(r["version"] == 1 and r["bin"] == b["id"] for r in made)
        assert [app.get("pick", r["name"], "admin")["qty"] for r in made] == [3, 1, 2]
        entries = [e for e in app.audit_log(user="admin", entity="pick") if e.action == "create"]
        assert len(entries) == 4 and {e.changes["qty"][1] for e in entries} == {1, 2, 3}


def test_a_refused_record_refuses_the_batch(make_app, db_url):
    with open_app(make_app(APP), db_url) as app:
        b = app.create("bin", {"code": "A"}, "admin")
        with pytest.raises(ValidationFailed, match="at least 1"), app.transaction(ADMIN) as tx:
            tx.create_many("pick", [{"bin": b["id"], "qty": 1}, {"bin": b["id"], "qty": 0}])
        assert app.count("pick", user="admin") == 0


def test_records_that_could_depend_on_each_other_are_created_one_at_a_time(make_app, db_url):
    with open_app(make_app(APP), db_url) as app, app.transaction(ADMIN) as tx:
        tx.create("tally", {"qty": 1})
        with count_statements(app.engine) as counts:
            made = tx.create_many("tally", [{"qty": 2}, {"qty": 3}])
        inserts = [t for t in counts.texts if t.lstrip().upper().startswith("INSERT INTO TALLY")]
        assert len(inserts) == 2 and [r["twice"] for r in made] == [4, 6]
        assert [r["name"] for r in made] == ["TL-00002", "TL-00003"]
