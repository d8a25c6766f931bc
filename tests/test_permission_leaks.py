"""What a user may not read directly they cannot observe indirectly: through a link in a filter, a
related-field aggregate, a report (and its drill-down), the audit log, an error message, or by
probing for existence with get/update/delete or link values."""

from __future__ import annotations

import json

import pytest

from ordo.engine import SYSTEM, Conflict, NotFound, PermissionDenied, ValidationFailed, open_app
from ordo.engine.cli import main

APP = {
    "entities/account.yaml": """
        name: account
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          region: {type: string}
          secret: {type: string}
          invoices: {type: related, entity: invoice, where: "account == parent.id"}
    """,
    "entities/invoice.yaml": """
        name: invoice
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          account: {type: link, entity: account}
          region: {type: string}
          amount: {type: integer}
    """,
    "entities/deal.yaml": """
        name: deal
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          region: {type: string}
          title: {type: string}
          ref: {type: string, unique: true}
          account: {type: link, entity: account}
          lines: {type: table, entity: deal_line}
        merge:
          table: lines
          match: [title]
        ---
        name: deal_line
        child: true
        fields:
          note: {type: string}
          account: {type: link, entity: account}
    """,
    "entities/memo.yaml": """
        name: memo
        fields:
          text: {type: string}
    """,
    "reports/by_secret.yaml": """
        name: by_secret
        source: deal
        params:
          p: {type: string}
        filters:
          - "is_null(:p) or starts_with(account.secret, :p)"
        dimensions:
          - {name: secret, expr: account.secret}
          - {name: account, expr: account}
        measures:
          - {name: deals, agg: count}
          - {name: s_deals, agg: count, filter: "starts_with(account.secret, 's')"}
          - {name: billed, agg: sum, expr: "sum(account.invoices, amount)"}
    """,
    "reports/line_accounts.yaml": """
        name: line_accounts
        source: deal.lines
        dimensions:
          - {name: secret, expr: account.secret}
        measures:
          - {name: lines, agg: count}
    """,
    "flows/review.yaml": """
        name: review
        entity: deal
        nodes:
          check:
            type: approval
            approvers: [{user: nora}]
            next: done
          done: {type: end, outcome: approved}
    """,
    "roles.yaml": """
        roles:
          admin:
            users: [root]
          regional:
            permissions:
              - {entity: account, actions: [read], where: "region == user.region"}
              - {entity: invoice, actions: [read], where: "region == user.region"}
              - {entity: deal, actions: [read, create, update], where: "region == user.region"}
              - {entity: memo}
              - {report: by_secret}
              - {report: line_accounts}
              - {flow: review, actions: [start]}
    """,
}

NORTH_DEALS = ["D1", "D3"]  # D1 links the south account S1, D3 the north account N1


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    with a.users("root") as users:
        users.save("nora", attrs={"region": "north"})
        users.grant("nora", "regional")
    with a.transaction("root") as tx:
        tx.create("account", {"code": "N1", "region": "north", "secret": "n-public"})
        tx.create("account", {"code": "S1", "region": "south", "secret": "s3cret"})
        for code, account, region, amount in (("I1", "N1", "north", 10), ("I2", "N1", "south", 1000),
                                              ("I3", "S1", "south", 500)):
            tx.create("invoice", {"code": code, "account": account, "region": region, "amount": amount})
        tx.create("deal", {"code": "D1", "region": "north", "title": "t", "account": "S1", "ref": "R1",
                           "lines": [{"note": "a", "account": "S1"}]})
        tx.create("deal", {"code": "D2", "region": "south", "title": "t", "account": "N1", "ref": "R2"})
        tx.create("deal", {"code": "D3", "region": "north", "title": "u", "account": "N1", "ref": "R3",
                           "lines": [{"note": "b", "account": "N1"}]})
    yield a
    a.close()


def names(rows):
    return sorted(r["name"] for r in rows)


def cli(command, app_dir, db_url, *argv):
    return main([*command.split(), str(app_dir), *argv, "--db", db_url])


# -- 1. indirect paths

def test_a_filter_through_a_link_sees_a_hidden_record_as_null(app):
    probe = "starts_with(account.secret, :p)"
    assert names(app.query("deal", probe, user="root", params={"p": "s"})) == ["D1"]  # the secret is there
    for prefix in ("s", "s3", "s3cret"):
        assert app.query("deal", probe, user="nora", params={"p": prefix}) == []
        assert app.count("deal", probe, user="nora", params={"p": prefix}) == 0
    assert names(app.query("deal", "is_null(account.secret)", user="nora")) == ["D1"]
    assert names(app.query("deal", "is_null(account.id)", user="nora")) == ["D1"]
    assert names(app.query("deal", "account.secret == 'n-public'", user="nora")) == ["D3"]  # readable: as before
    # the same for root and nora one after the other (compiled filters are never shared between them)
    assert app.count("deal", "account.region == 'south'", user="root") == 1
    assert app.count("deal", "account.region == 'south'", user="nora") == 0
    assert app.count("deal", "account.region == 'south'", user="root") == 1
    # child rows belong to their record; their links are guarded like the record's
    assert app.count("deal", "any(lines, starts_with(account.secret, 's'))", user="nora") == 0
    assert app.count("deal", "any(lines, starts_with(account.secret, 's'))", user="root") == 1


def test_compiled_filters_are_shared_only_between_users_with_the_same_rules(app):
    with app.users("root") as users:
        users.save("sam", attrs={"region": "south"})
        users.grant("sam", "regional")
        users.save("nina", attrs={"region": "north"})
        users.grant("nina", "regional")
    for user, expected in (("nora", ["D1"]), ("sam", ["D2"]), ("nina", ["D1"]), ("root", []), ("nora", ["D1"])):
        assert names(app.query("deal", "is_null(account.secret)", user=user)) == expected, user


ORACLE_ROLES = """
    roles:
      admin: {users: [root]}
      regional:
        permissions:
          - {entity: account, actions: [read], where: "region == user.region"}
          - {entity: invoice, actions: [read], where: "account.region == user.region and region == user.region"}
          - {entity: deal, actions: [read], where: "account.region == user.region"}
"""
# fails (on PostgreSQL: negative substring length) only where the condition in `if` holds
PROBE = "substr(title, 1, if(starts_with(title, :p), -1, 1)) == 'z'"


def test_a_filter_is_never_evaluated_on_rows_the_user_may_not_read(make_app, db_url):
    """Databases evaluate AND in any order: a user's condition evaluated on a hidden row could fail or
    take longer depending on its data (an error or timing oracle). Row rules that follow a link are
    costly, so the database would try the user's condition first."""
    app = open_app(make_app({**APP, "roles.yaml": ORACLE_ROLES}), db_url)
    with app.users("root") as users:
        users.save("nora", attrs={"region": "north"})
        users.grant("nora", "regional")
    with app.transaction("root") as tx:
        tx.create("account", {"code": "N1", "region": "north"})
        tx.create("account", {"code": "S1", "region": "south"})
        tx.create("deal", {"code": "D1", "title": "abc", "account": "N1", "lines": [{"note": "abc"}]})
        tx.create("deal", {"code": "D2", "title": "s3cret", "account": "S1", "lines": [{"note": "s3cret"}]})
        tx.create("invoice", {"code": "I1", "account": "N1", "region": "north"})
        tx.create("invoice", {"code": "I2", "account": "N1", "region": "s3cret"})  # of N1, but hidden
    for prefix in ("s", "s3", "x"):
        p = {"p": prefix}
        assert app.count("deal", PROBE, user="nora", params=p) == 0
        assert app.count("deal", f"title != 'q' and {PROBE}", user="nora", params=p) == 0
        assert app.query("deal", f"any(lines, {PROBE.replace('title', 'note')})", user="nora", params=p) == []
        assert app.count("account", f"any(invoices, {PROBE.replace('title', 'region')})", user="nora",
                         params=p) == 0
    app.close()


def test_batch_edits_and_merges_do_not_probe_through_links(app):
    with pytest.raises(NotFound):  # not even the merge needs to run: D2 is not visible
        app.merge("deal", ["D1", "D2"], "nora")
    assert app.update_many("deal", "starts_with(account.secret, 's')", {"title": "x"}, "nora") == []
    assert app.merge_all("deal", "nora", where="starts_with(account.secret, 's')") == []
    assert app.get("deal", "D1", "root")["title"] == "t"


def test_cli_where_does_not_probe_through_links(app, make_app, db_url, capsys):
    app_dir = make_app(APP)
    capsys.readouterr()
    assert cli("query", app_dir, db_url, "deal", "--where", "starts_with(account.secret, 's')",
               "--format", "json", "--user", "nora") == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli("query", app_dir, db_url, "deal", "--where", "starts_with(account.secret, 's')",
               "--format", "json") == 0  # the owner sees it
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["D1"]
    assert cli("update-many", app_dir, db_url, "deal", "--where", "starts_with(account.secret, 's')",
               "--set", "title=x", "--user", "nora") == 0
    assert "updated 0 deal" in capsys.readouterr().out


def test_related_aggregates_count_only_readable_rows(app):
    assert names(app.query("account", "sum(invoices, amount) > 100", user="root")) == ["N1", "S1"]
    assert app.query("account", "sum(invoices, amount) > 100", user="nora") == []  # I2 is south
    assert names(app.query("account", "count(invoices) == 1", user="nora")) == ["N1"]
    # through a link: the hidden account S1 has no rows for nora, the visible N1 only its readable ones
    assert names(app.query("deal", "count(account.invoices) > 0", user="nora")) == ["D3"]
    assert names(app.query("deal", "sum(account.invoices, amount) == 10", user="nora")) == ["D3"]
    assert names(app.query("deal", "sum(account.invoices, amount) > 0", user="root")) == ["D1", "D2", "D3"]


def test_a_report_through_a_link_and_its_drill_down(app):
    reports = app.features["reports"]
    rows = reports.report("by_secret", user="nora").rows
    assert sorted((r["secret"] or "", r["account"] or "", r["deals"], r["s_deals"], r["billed"]) for r in rows) == [
        ("", "", 1, 0, 0), ("n-public", "N1", 1, 0, 10)]
    root_rows = reports.report("by_secret", user="root").rows
    assert {r["secret"] for r in root_rows} == {"s3cret", "n-public"}
    assert reports.report("by_secret", user="nora", params={"p": "s"}).rows == []
    lines = reports.report("line_accounts", user="nora").rows
    assert sorted((r["secret"] or "", r["lines"]) for r in lines) == [("", 1), ("n-public", 1)]
    # drill-down: the hidden group is only the null one, and its records are the ones nora may read
    with app.reader("nora") as tx:
        assert names(reports.drill_rows(tx, "by_secret", {"secret": None, "account": None})) == ["D1"]
        assert reports.drill_rows(tx, "by_secret", {"secret": "s3cret", "account": "S1"}) == []
    d = reports.drill("by_secret", {"secret": "s3cret", "account": "S1"})
    assert app.query(d.entity, d.where, params=d.params, user="nora") == []
    assert names(app.query(d.entity, d.where, params=d.params, user="root")) == ["D1"]


def test_the_audit_log_shows_only_readable_records(app, make_app, db_url, capsys):
    memo = app.create("memo", {"text": "open to all"}, "root")["name"]  # an entity no role governs
    seen = {e.record_name for e in app.audit_log(user="nora", limit=1000)}
    assert seen == {"N1", "I1", "D1", "D3", memo}
    # paging counts visible entries only, newest first
    newest = app.audit_log(user="nora", limit=2)
    assert [e.record_name for e in newest] == [e.record_name for e in app.audit_log(user="nora", limit=1000)[:2]]
    assert [e.record_name for e in app.audit_log(user="nora", limit=2, offset=2)] == \
        [e.record_name for e in app.audit_log(user="nora", limit=1000)[2:4]]
    with pytest.raises(NotFound):
        app.audit_log(user="nora", entity="account", record="S1")
    assert app.audit_log(user="nora", entity="account", record=2) == []  # S1 by id
    # a record deleted is no longer readable: its history goes with it (for restricted users)
    app.delete("deal", "D3", "root")
    assert "D3" not in {e.record_name for e in app.audit_log(user="nora", limit=1000)}
    assert "D3" in {e.record_name for e in app.audit_log(user="root", limit=1000)}
    app_dir = make_app(APP)
    capsys.readouterr()
    assert cli("audit", app_dir, db_url, "--format", "json", "--user", "nora") == 0
    shown = {r["record"] for r in json.loads(capsys.readouterr().out)}
    assert shown and not shown & {"S1", "I2", "I3", "D2", "D3"}


# -- 2. direct paths

def test_unreadable_records_are_not_found_like_missing_ones(app):
    for entity, hidden, missing in (("account", "S1", "S9"), ("deal", "D2", "D9")):
        for key in (hidden, missing):
            with pytest.raises(NotFound) as e:
                app.get(entity, key, "nora")
            assert str(e.value) == f"{entity} {key!r} not found"
            with app.reader("nora") as tx:
                assert tx.find(entity, key) is None
    with pytest.raises(NotFound, match="^deal 'D2' not found$"):
        app.update("deal", "D2", {"title": "x"}, "nora")
    with pytest.raises(NotFound, match="^deal 'D2' not found$"):
        app.delete("deal", "D2", "nora")
    hidden_id = app.get("deal", "D2", "root")["id"]
    with pytest.raises(NotFound, match=f"^deal {hidden_id} not found$"):
        app.get("deal", hidden_id, "nora")
    with pytest.raises(PermissionDenied):  # readable, but 'regional' may not delete
        app.delete("deal", "D1", "nora")
    assert app.get("deal", "D2", "root")["title"] == "t"


def test_a_link_to_an_unreadable_record_is_refused_like_a_missing_one(app):
    s1 = app.get("account", "S1", "root")["id"]
    errors = {}
    for value in ("S1", "S9", s1, 999_999):
        with pytest.raises(ValidationFailed) as e:
            app.create("deal", {"code": "D9", "region": "north", "account": value}, "nora")
        errors[value] = str(e.value)
    assert errors["S1"] == "deal: account: no account 'S1'" and errors["S9"] == "deal: account: no account 'S9'"
    assert errors[s1] == f"deal: account: no account {s1}"
    with pytest.raises(ValidationFailed, match=r"lines\[0\]\.account: no account 'S1'"):
        app.update("deal", "D3", {"lines": [{"note": "c", "account": "S1"}]}, "nora")
    # a link already on the record is kept when something else changes
    assert app.update("deal", "D1", {"title": "new"}, "nora")["account"] == s1
    assert app.update("deal", "D1", {"lines": [{"note": "c", "account": "N1"}]}, "nora")["title"] == "new"
    # system writes (jobs, flows) are not restricted
    with app.transaction(SYSTEM) as tx:
        assert tx.create("deal", {"code": "D8", "region": "north", "account": "S1"})["account"] == s1


FOLDERS = {
    "entities/folder.yaml": """
        name: folder
        naming: "{code}"
        fields:
          code: {type: string, required: true}
          region: {type: string}
    """,
    "entities/doc.yaml": """
        name: doc
        naming: "{code}"
        fields:
          code: {type: string, required: true}
          region: {type: string}
          folder: {type: link, entity: folder, on_delete: cascade}
          pinned: {type: link, entity: folder}
    """,
    "roles.yaml": """
        roles:
          admin: {users: [root]}
          regional:
            permissions:
              - {entity: folder, actions: [read, delete], where: "region == user.region"}
              - {entity: doc, actions: [read, delete], where: "region == user.region"}
    """,
}


def test_deleting_does_not_reveal_hidden_dependents(make_app, db_url):
    app = open_app(make_app(FOLDERS), db_url)
    with app.users("root") as users:
        users.save("nora", attrs={"region": "north"})
        users.grant("nora", "regional")
    with app.transaction("root") as tx:
        for code in ("F1", "F2"):
            tx.create("folder", {"code": code, "region": "north"})
        tx.create("doc", {"code": "X1", "region": "north", "folder": "F1"})
        hidden = tx.create("doc", {"code": "X2", "region": "south", "folder": "F1"})["id"]
        for code, region in (("P1", "north"), ("P2", "south"), ("P3", "south")):
            tx.create("doc", {"code": code, "region": region, "pinned": "F2"})
    with pytest.raises(Conflict) as e:  # the cascade would delete a doc nora may not read
        app.delete("folder", "F1", "nora")
    assert str(e.value) == "cannot delete folder F1: doc records that depend on it (field folder) cannot be " \
                           "deleted by nora" and str(hidden) not in str(e.value)
    assert app.count("doc", user="root") == 5  # nothing was deleted
    with pytest.raises(Conflict) as e:  # no count: two of the three are hidden from nora
        app.delete("folder", "F2", "nora")
    assert str(e.value) == "cannot delete folder F2: still used by doc record(s) (field pinned)"
    with pytest.raises(Conflict, match="still used by 3 doc record"):
        app.delete("folder", "F2", "root")
    app.close()


def test_uniqueness_errors_name_only_readable_records(app):
    with pytest.raises(ValidationFailed) as e:
        app.create("deal", {"code": "D9", "region": "north", "ref": "R2"}, "nora")  # R2 is on hidden D2
    assert "already used" in str(e.value) and "D2" not in str(e.value)
    with pytest.raises(ValidationFailed, match="'R1' is already used by D1"):  # readable: named
        app.create("deal", {"code": "D9", "region": "north", "ref": "R1"}, "nora")


def test_flow_status_and_timeline_of_an_unreadable_record(app, make_app, db_url, capsys):
    flows = app.features["flows"]
    with app.reader("nora") as tx:
        for fn in (flows.status, flows.timeline):
            with pytest.raises(NotFound, match="^deal 'D2' not found$"):
                fn(tx, "deal", "D2")
    with app.transaction("root") as tx:  # a task for nora on a record she may not read: not named to her
        flows.start(tx, "review", "D2")
        flows.start(tx, "review", "D1")
    with app.reader("nora") as tx:
        assert sorted((t.record_name or "") for t in flows.inbox(tx)) == ["", "D1"]
    app_dir = make_app(APP)
    for command in ("status", "timeline"):
        capsys.readouterr()
        assert cli(f"flow {command}", app_dir, db_url, "deal", "D2", "--user", "nora") == 1
        assert "deal 'D2' not found" in capsys.readouterr().err
