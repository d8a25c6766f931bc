"""Pages over HTTP (TestClient): sign-in, home, language, list view with filters, sorting, paging and exports;
each applies the same permissions as the API."""

from __future__ import annotations

import csv
import io

import openpyxl

from .api_apps import order_body
from .web_kit import shop, sign_in, text_of


def test_sign_in_page_home_and_sign_out(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        assert c.get("/").headers["location"] == "/home"
        r = c.get("/app/order")
        assert r.status_code == 303 and r.headers["location"] == "/signin?next=/app/order"
        r = c.get("/signin?next=/app/order")
        assert r.status_code == 200 and 'name="password"' in r.text
        r = c.post("/signin", data={"user": "ann", "password": "wrong", "next": "/home"})
        assert r.status_code == 401 and "Wrong user name or password" in r.text
        r = c.post("/signin", data={"user": "ann", "password": "correct horse battery", "next": "//evil.example"})
        assert r.status_code == 303 and r.headers["location"] == "/"  # never another site
        home = text_of(c.get("/home").text)
        assert "Order" in home and "Customer" in home and "Orders by status" in home
        assert "Nothing waiting for you" in home
        csrf = sign_in(c, "ann")
        assert c.post("/signout", data={}).status_code == 403  # CSRF enforced on posts
        r = c.post("/signout", data={"csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/signin"
        assert c.get("/home").status_code == 303


def test_home_shows_only_what_the_roles_allow(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        app.create("order", order_body(status="submitted"), "ann")
        sign_in(c, "max")
        home = text_of(c.get("/home").text)
        assert "Manager review" in home and "Mugs" in home  # the manager's open task with the record's title
        sign_in(c, "ann")
        home = text_of(c.get("/home").text)
        assert "Manager review" not in home
        assert "/app/product" in c.get("/home").text


def test_language_switch_is_remembered(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        sign_in(c, "max")
        r = c.get("/lang?to=zh&next=/app/order")
        assert r.status_code == 303 and r.headers["location"] == "/app/order"
        app.create("order", order_body(status="draft"), "ann")
        page = text_of(c.get("/app/order").text)
        assert "订单" in page and "草稿" in page and "共 1 条" in page  # labels and status values in Chinese
        assert "Draft" not in page
        c.get("/lang?to=en&next=/app/order")
        assert "Draft" in text_of(c.get("/app/order").text)


def test_list_filter_sort_paging_and_links_by_title(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        for i in range(25):
            app.create("order", order_body(subject=f"S{i:02d}", total=str(i), customer="C1" if i % 2 else "C2"),
                       "max")
        sign_in(c, "max")
        r = c.get("/app/order?size=20")
        page = text_of(r.text)
        assert r.status_code == 200 and "25 records" in page and "Page 1 of 2" in page
        assert "Acme" in page and "Globex" in page and ">C1<" not in r.text  # links by title
        page2 = text_of(c.get("/app/order?size=20&page=2").text)
        assert "Page 2 of 2" in page2
        r = c.get("/app/order?f=total&o=ge&v=20&sort=-total")
        page = text_of(r.text)
        assert "5 records" in page and page.index("S24") < page.index("S20")
        assert "7 records" in text_of(c.get("/app/order?f=customer&o=eq&v=Acme&f=total&o=lt&v=14").text)
        r = c.get("/app/order?q=total+%3E%3D+23")
        assert "2 records" in text_of(r.text)
        r = c.get("/app/order?q=total+%3E%3E")  # a wrong expression: the error inline, not a 500
        assert r.status_code == 400 and 'id="q-error"' in r.text and "1:" in r.text
        r = c.get("/app/order?f=total&o=gt&v=lots")
        assert r.status_code == 400 and "needs an amount" in r.text
        r = c.get("/app/order?f=cost&o=eq&v=1")
        assert r.status_code == 400 and "unknown field" in r.text
        assert c.get("/app/order?sort=nope").status_code == 400
        assert c.get("/app/nothing").status_code == 404
        assert c.get("/app/order_line").status_code == 404  # a child entity has no list of its own


def test_list_applies_row_and_field_rules(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        app.create("order", order_body(owner="ann", subject="Anns order"), "max")
        app.create("order", order_body(owner="bob", customer="C2", subject="Bobs order"), "max")
        sign_in(c, "ann")
        page = text_of(c.get("/app/order").text)
        assert "1 records" in page and "Anns order" in page and "Bobs order" not in page
        # a filter on a link never reveals unreadable records (Globex is in bob's region)
        assert "0 records" in text_of(c.get("/app/order?f=customer&o=eq&v=Globex").text)
        r = c.get("/app/product")
        assert r.status_code == 200 and "Cost" not in text_of(r.text)
        assert c.get("/app/product?sort=cost").status_code == 400
        assert c.get("/app/product?q=cost+%3E+1").status_code == 400
        csv_text = c.get("/app/product/export.csv").text
        assert "Cost" not in csv_text and "4.00" not in csv_text


def test_exports_are_complete_and_typed(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        for i in range(30):
            app.create("order", order_body(subject=f"S{i:02d}", total=f"{i}.50"), "max")
        sign_in(c, "max")
        r = c.get("/app/order/export.csv?f=total&o=ge&v=10")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.text)))
        assert len(rows) == 1 + 20
        header = rows[0]
        assert "Customer" in header and "Total" in header
        assert {row[header.index("Customer")] for row in rows[1:]} == {"Acme"}
        assert sorted(float(row[header.index("Total")]) for row in rows[1:])[0] == 10.5
        app.create("order", order_body(subject="No total", total=None), "max")  # an empty amount stays empty
        r = c.get("/app/order/export.xlsx?sort=-total")
        ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
        values = list(ws.values)
        header, body = values[0], values[1:]
        totals = {row[header.index("Subject")]: row[header.index("Total")] for row in body}
        assert len(body) == 31 and totals["S29"] == 29.5 and totals["No total"] in (None, "")
        assert c.get("/app/order/export.pdf").status_code == 404
        assert c.get("/app/order/export.csv?q=%29").status_code == 400


def test_saved_views_are_per_user(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        for total in ("5", "50", "500"):
            app.create("order", order_body(total=total), "max")
        csrf = sign_in(c, "max")
        r = c.post("/app/order/views", data={"csrf_token": csrf, "name": "Big ones",
                                             "query": "f=total&o=gt&v=40&sort=-total&evil=1"})
        assert r.status_code == 303 and r.headers["location"] == "/app/order?f=total&o=gt&v=40&sort=-total"
        page = c.get("/app/order").text
        assert "Big ones" in page and 'href="/app/order?f=total&amp;o=gt&amp;v=40&amp;sort=-total"' in page
        assert "2 records" in text_of(c.get(r.headers["location"]).text)
        assert c.post("/app/order/views", data={"csrf_token": csrf, "name": " "}).status_code == 400
        assert c.post("/app/order/views", data={"name": "x"}).status_code == 403  # CSRF
        sign_in(c, "ann")
        assert "Big ones" not in c.get("/app/order").text  # another user's views stay theirs
        csrf = sign_in(c, "max")
        c.post("/app/order/views/delete", data={"csrf_token": csrf, "name": "Big ones"})
        assert "Big ones" not in c.get("/app/order").text


def test_bulk_edit_selected_rows_all_or_nothing(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        recs = [app.create("order", order_body(owner="ann", subject=f"S{i}"), "max") for i in range(3)]
        bobs = app.create("order", order_body(owner="bob", customer="C2"), "max")
        csrf = sign_in(c, "ann")
        page = c.get("/app/order").text
        assert 'id="bulk"' in page and 'name="id" value=' in page
        ids = [str(r["id"]) for r in recs[:2]]
        r = c.post("/app/order/bulk", data={"csrf_token": csrf, "id": ids, "field": "subject", "value": "Bulk",
                                            "back": "sort=name"})
        assert r.status_code == 303 and "changed=2" in r.headers["location"]
        assert [app.get("order", x["id"], "max")["subject"] for x in recs] == ["Bulk", "Bulk", "S2"]
        assert "2 records changed" in text_of(c.get(r.headers["location"]).text)
        # a record she may not read is not changed: update-many reads through her row rules
        r = c.post("/app/order/bulk", data={"csrf_token": csrf, "id": [str(bobs["id"])], "field": "subject",
                                            "value": "Mine"})
        assert app.get("order", bobs["id"], "max")["subject"] == "Mugs"
        r = c.post("/app/order/bulk", data={"csrf_token": csrf, "id": ids, "field": "total", "value": "-1"})
        assert r.status_code == 422 and str(app.get("order", recs[0]["id"], "max")["total"]) == "37.50"
        r = c.post("/app/order/bulk", data={"csrf_token": csrf, "id": ids, "field": "line_total", "value": "1"})
        assert r.status_code == 422 and "unknown field" in r.text
        assert c.post("/app/order/bulk", data={"csrf_token": csrf, "field": "subject"}).status_code == 400
        assert c.post("/app/order/bulk", data={"id": ids, "field": "subject", "value": "x"}).status_code == 403


def test_language_choice_follows_the_user_to_another_browser(make_app, db_url):
    from starlette.testclient import TestClient

    with shop(make_app, db_url) as (app, c):
        sign_in(c, "max")
        c.get("/lang?to=zh&next=/home")
        other = TestClient(c.app, follow_redirects=False)
        sign_in(other, "max")
        assert "我的待办" in other.get("/home").text  # chosen in the first browser, applied at sign-in
        sign_in(other, "ann")
        other.cookies.clear()
        sign_in(other, "ann")
        assert "Your open tasks" in other.get("/home", headers={"accept-language": "en"}).text
