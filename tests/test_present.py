"""Truthful record output: links by title or name under the reader's permissions, dotted and checked
columns, complete exports, paging notices, labels in the reader's language."""

from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa

from ordo.engine import open_app
from ordo.engine.cli import main
from ordo.engine.errors import UsageError
from ordo.engine.present import Presenter, audit_changes

APP = {
    "entities/region.yaml": """
        name: region
        label: {en: Region, zh: 区域}
        naming: "{code}"
        title_field: region_name
        fields:
          code: {type: string, required: true, unique: true}
          region_name: {type: string, label: {en: Region name, zh: 区域名称}}
    """,
    "entities/customer.yaml": """
        name: customer
        label: {en: Customer, zh: 客户}
        naming: "{code}"
        title_field: customer_name
        fields:
          code: {type: string, required: true, unique: true}
          customer_name: {type: string, label: {en: Customer name, zh: 客户名称}}
          level:
            type: enum
            label: {en: Level, zh: 等级}
            options:
              - {value: normal, label: {en: Normal, zh: 普通}}
              - {value: vip, label: {en: VIP, zh: 贵宾}}
            default: normal
          region: {type: link, entity: region, label: {en: Region, zh: 区域}}
    """,
    "entities/product.yaml": """
        name: product
        naming: "{sku}"
        title_field: title
        fields:
          sku: {type: string, required: true, unique: true}
          title: {type: string}
    """,
    "entities/order.yaml": """
        name: order
        label: {en: Order, zh: 订单}
        naming: "O-{####}"
        fields:
          customer: {type: link, entity: customer, label: {en: Customer, zh: 客户}}
          status:
            type: enum
            label: {en: Status, zh: 状态}
            options:
              - {value: new, label: {en: New, zh: 新建}}
              - {value: paid, label: {en: Paid, zh: 已支付}}
            default: new
          shipping: {type: money, label: {en: Shipping, zh: 运费}}
          split_from: {type: link, entity: order, on_delete: set_null, label: {en: Split from, zh: 拆分自}}
          lines: {type: table, entity: order_line, label: {en: Lines, zh: 明细}}
          total: {type: computed, expr: "sum(lines, amount) + coalesce(shipping, 0)", label: {en: Total, zh: 合计}}
    """,
    "entities/order_line.yaml": """
        name: order_line
        child: true
        fields:
          product: {type: link, entity: product, label: {en: Product, zh: 商品}}
          qty: {type: integer, label: {en: Quantity, zh: 数量}}
          price: {type: money}
          amount: {type: computed, expr: "qty * price"}
    """,
    "roles.yaml": """
        roles:
          clerk:
            permissions:
              - entity: customer
                actions: [read]
                where: "level == 'normal' and region.code == 'N'"  # through a link: a subquery
              - entity: order
                actions: [read, create, update]
              - {entity: region, actions: [read]}
              - {entity: product, actions: [read]}
          admin:
            users: [root]
    """,
}


@pytest.fixture
def shop(make_app, db_url):
    path = make_app(APP)
    app = open_app(path, db_url)
    with app.users("root") as users:
        users.save("cleo")
        users.grant("cleo", "clerk")
    app.create("region", {"code": "N", "region_name": "North"}, "root")
    app.create("customer", {"code": "ACME", "customer_name": "Acme Ltd", "region": "N"}, "root")
    app.create("customer", {"code": "BIG", "customer_name": "Big Secret Co", "level": "vip", "region": "N"}, "root")
    app.create("product", {"sku": "MUG", "title": "Blue mug"}, "root")
    first = app.create("order", {"customer": "ACME", "shipping": "1.2",
                                 "lines": [{"product": "MUG", "qty": 3, "price": "80.20"}]}, "root")
    app.create("order", {"customer": "BIG", "split_from": first["name"], "status": "paid",
                         "lines": [{"product": "MUG", "qty": 1, "price": "0.10"}]}, "root")
    yield path, db_url, app
    app.close()


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_links_show_titles_and_names_never_ids(shop):
    _, _, app = shop
    with app.reader("root") as tx:
        orders = tx.query("order", order_by="name", with_children=True)
        shown = Presenter(tx, "order").text(orders)
        data = Presenter(tx, "order").data(orders)
    assert shown[0]["customer"] == "Acme Ltd" and shown[1]["customer"] == "Big Secret Co"  # title_field
    assert shown[1]["split_from"] == "O-0001"  # no title field: the name
    assert shown[0]["lines"][0]["product"] == "Blue mug"  # child rows' links too
    assert shown[1]["status"] == "Paid"  # option label
    assert str(shown[0]["total"]) == "241.80" and str(shown[1]["total"]) == "0.10"  # computed money at its scale
    assert data[0]["customer"] == "ACME" and data[1]["split_from"] == "O-0001"  # JSON: what input accepts
    assert data[0]["lines"][0]["product"] == "MUG" and data[1]["status"] == "paid"


def test_links_the_reader_may_not_read_show_a_placeholder(shop):
    _, _, app = shop
    with app.reader("cleo") as tx:
        orders = tx.query("order", order_by="name")
        shown = Presenter(tx, "order", ["name", "customer", "customer.level", "customer.region.region_name"],
                          lang="zh").text(orders)
        data = Presenter(tx, "order", ["customer", "customer.customer_name"]).data(orders)
    assert shown[0] == {"name": "O-0001", "customer": "Acme Ltd", "customer.level": "普通",
                        "customer.region.region_name": "North"}
    assert shown[1]["customer"] == "(无权限)" and shown[1]["customer.level"] == "(无权限)"  # never the VIP's name
    assert shown[1]["customer.region.region_name"] == "(无权限)"  # nor anything reached through it
    assert data[1] == {"customer": "(no access)", "customer.customer_name": "(no access)"}
    assert "Big Secret" not in json.dumps(data + shown, default=str)


def test_links_are_read_in_one_query_per_entity(shop):
    _, _, app = shop
    for i in range(30):
        app.create("order", {"customer": "ACME" if i % 2 else "BIG", "split_from": "O-0001",
                             "lines": [{"product": "MUG", "qty": 1, "price": 1}]}, "root")
    statements: list[str] = []
    with app.reader("root") as tx:
        orders = tx.query("order", with_children=True)
        sa.event.listen(tx.conn, "before_cursor_execute", lambda *a: statements.append(a[2]))
        Presenter(tx, "order", ["name", "customer", "customer.region", "split_from", "lines"]).text(orders)
        assert len(statements) == 4  # customer, order (split_from), region (dotted), product (rows)
        Presenter(tx, "order").data(orders)
        assert len(statements) == 4 + 3  # never one per row


def test_unknown_and_dotted_columns(shop, capsys):
    path, db, app = shop
    with app.reader("root") as tx, pytest.raises(UsageError, match="unknown column 'custmer': order has no field"):
        Presenter(tx, "order", ["custmer"])
    code, _, err = run(capsys, "query", path, "order", "--columns", "name,customer.levl", "--db", db)
    assert code == 1 and "unknown column 'customer.levl': customer has no field 'levl'" in err
    code, _, err = run(capsys, "query", path, "order", "--columns", "status.x", "--db", db)
    assert code == 1 and "'status' of order is not a link" in err
    code, out, _ = run(capsys, "query", path, "order", "--columns", "name,customer,customer.level", "--db", db,
                       "--format", "csv", "--order-by", "name")
    assert list(csv.reader(io.StringIO(out))) == [["name", "customer", "customer.level"],
                                                  ["O-0001", "Acme Ltd", "Normal"],
                                                  ["O-0002", "Big Secret Co", "VIP"]]
    code, out, _ = run(capsys, "query", path, "order", "--columns", "name,customer", "--db", db, "--user", "cleo")
    assert "(no access)" in out and "Big Secret" not in out and "Acme Ltd" in out


def test_get_formats_and_round_trip(shop, capsys):
    path, db, app = shop
    code, out, _ = run(capsys, "get", path, "order", "O-0001", "--db", db)  # json by default
    rec = json.loads(out)
    assert code == 0 and rec["customer"] == "ACME" and rec["lines"][0]["product"] == "MUG"
    assert rec["total"] == "241.80" and rec["shipping"] == "1.20"
    rec["status"] = "paid"
    code, out, err = run(capsys, "update", path, "order", "O-0001", json.dumps(rec), "--db", db)
    assert code == 0, err
    assert json.loads(out)["customer"] == "ACME" and app.get("order", "O-0001", "root")["status"] == "paid"
    code, out, _ = run(capsys, "get", path, "order", "O-0002", "--db", db, "--user", "cleo")
    rec = json.loads(out)
    assert rec["customer"] == "(no access)"  # cleo may not read the VIP customer ...
    rec["status"] = "new"
    assert run(capsys, "update", path, "order", "O-0002", json.dumps(rec), "--db", db, "--user", "cleo")[0] == 0
    assert app.get("order", "O-0002", "root")["customer"] is not None  # ... and saving it back keeps the link
    code, out, _ = run(capsys, "get", path, "order", "O-0002", "--db", db, "--format", "table", "--lang", "zh")
    assert code == 0 and "订单 O-0002" in out and "Big Secret Co" in out and "新建" in out
    assert "拆分自" in out and "O-0001" in out and "商品" in out and "Blue mug" in out
    with pytest.raises(SystemExit):  # not a format of get
        run(capsys, "get", path, "order", "O-0002", "--db", db, "--format", "csv")


def test_query_table_pages_and_exports_are_complete(shop, capsys, monkeypatch):
    path, db, app = shop
    with app.transaction("root") as tx:
        for i in range(118):
            tx.create("order", {"customer": "ACME", "shipping": i})
    code, out, _ = run(capsys, "query", path, "order", "--db", db, "--columns", "name,customer")
    assert code == 0 and "rows 1-50 of 120; next page: --offset 50" in out and out.count("Acme Ltd") == 49
    code, out, _ = run(capsys, "query", path, "order", "--db", db, "--columns", "name", "--offset", "100")
    assert "rows 101-120 of 120" in out and "next page" not in out
    monkeypatch.setattr("ordo.engine.pages.PAGE_SIZE", 7)  # exports stream in pages: several here
    code, out, _ = run(capsys, "query", path, "order", "--db", db, "--format", "csv", "--columns", "name,shipping")
    lines = list(csv.reader(io.StringIO(out)))
    assert len(lines) == 121 and len({r[0] for r in lines[1:]}) == 120
    assert lines[1:4] == [["O-0001", "1.20"], ["O-0002", ""], ["O-0003", "0.00"]]  # money: plain, at scale
    code, out, _ = run(capsys, "query", path, "order", "--db", db, "--format", "json", "--order-by=-name")
    rows = json.loads(out)
    assert len(rows) == 120 and len({r["name"] for r in rows}) == 120 and rows[0]["shipping"] == "117.00"  # O-0120
    code, out, _ = run(capsys, "query", path, "order", "--db", db, "--format", "json", "--limit", "10")
    assert len(json.loads(out)) == 10
    for bad in (["--limit", "-1"], ["--limit", "lots"], ["--offset", "-5"]):
        code, _, err = run(capsys, "query", path, "order", "--db", db, *bad)
        assert code == 1 and bad[0] in err and "Traceback" not in err


def test_audit_shows_link_titles_or_names(shop, capsys):
    path, db, app = shop
    app.update("order", "O-0001", {"customer": "BIG"}, "root")
    code, out, _ = run(capsys, "audit", path, "--entity", "order", "--record", "O-0001", "--db", db,
                       "--format", "json")
    entries = json.loads(out)
    assert entries[0]["changes"]["customer"] == ["ACME", "BIG"]
    assert entries[1]["changes"]["lines"][1][0]["product"] == "MUG"  # child rows' links
    code, out, _ = run(capsys, "audit", path, "--entity", "order", "--db", db, "--lang", "zh")
    assert "客户: Acme Ltd → Big Secret Co" in out
    with app.reader("cleo") as tx:
        shown = audit_changes(tx, app.audit_log(user="root", entity="order", limit=1), text=True)
    assert shown[0]["customer"] == ["Acme Ltd", "(no access)"]
    code, _, err = run(capsys, "audit", path, "--db", db, "--limit", "x")
    assert code == 1 and "--limit" in err


def test_labels_follow_lang_and_ordo_lang(shop, capsys, monkeypatch):
    path, db, _ = shop
    code, out, _ = run(capsys, "query", path, "order", "--db", db, "--columns", "name,status,customer.level",
                       "--lang", "zh")
    assert out.splitlines()[0].split() == ["编号", "状态", "客户", "/", "等级"] and "已支付" in out and "贵宾" in out
    monkeypatch.setenv("ORDO_LANG", "zh")
    code, out, _ = run(capsys, "query", path, "order", "--db", db, "--columns", "status")
    assert out.splitlines()[0] == "状态" and "新建" in out
    code, out, _ = run(capsys, "query", path, "order", "--db", db, "--columns", "status", "--format", "csv")
    assert out.splitlines()[0] == "status" and "新建" in out.splitlines()[1]  # CSV keeps field names as keys


def test_form_record_shows_names_and_titles(shop, capsys):
    path, db, _ = shop
    code, out, _ = run(capsys, "form", path, "order", "--record", "O-0001", "--db", db, "--lang", "zh")
    assert code == 0 and 'name="customer" value="ACME"' in out and 'value="Acme Ltd"' in out  # picker: name + title
    assert 'value="MUG"' in out and 'value="241.80"' in out


def test_list_commands_say_when_more_match(shop, capsys):
    path, db, app = shop
    with app.transaction("root") as tx:
        for i in range(55):
            tx.enqueue("nothing", {"i": i})
            tx.notify("inbox", "cleo", f"note {i}")
    code, out, _ = run(capsys, "jobs", path, "--db", db)
    assert code == 0 and "jobs 1-50 of 55; next page: --offset 50" in out
    code, out, _ = run(capsys, "outbox", path, "--db", db, "--offset", "50")
    assert "notifications 51-55 of 55" in out
    code, _, err = run(capsys, "jobs", path, "--db", db, "--limit", "-2")
    assert code == 1 and "--limit must be 0 or more" in err


def test_a_columns_decimal_converter_shows_what_at_scale_shows():
    from decimal import Decimal

    from ordo.engine.scales import at_scale, scaler

    values = [Decimal("120"), Decimal("2.675"), Decimal("-0.005"), Decimal("1E+3"), Decimal("NaN"), Decimal("Infinity"),
              Decimal("9" * 40), 2.675, 26875.499999999996, 7, True, "1.005", "x", None]
    for scale in (None, 0, 2, 4):
        convert, text = scaler(scale), scaler(scale, text=True)
        for v in values:
            expected = at_scale(v, scale)
            assert str(convert(v)) == str(expected) and type(convert(v)) is type(expected), (scale, v)
            assert text(v) == (str(expected) if type(expected) is Decimal else expected), (scale, v)
