"""The report page over HTTP: parameters, table with totals, drill-down to the records, downloads;
the reader's row rules apply to figures and drilled rows alike."""

from __future__ import annotations

import csv
import io
import re

from .api_apps import order_body
from .api_kit import add_user
from .web_kit import shop, sign_in, text_of


def test_report_page_table_drill_and_download(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        app.create("order", order_body(owner="ann", total="10", status="draft"), "max")
        app.create("order", order_body(owner="ann", total="20", status="draft"), "max")
        app.create("order", order_body(owner="bob", total="300", status="draft", customer="C2"), "max")
        sign_in(c, "max")
        r = c.get("/reports/orders_by_status")
        page = text_of(r.text)
        assert r.status_code == 200 and "Orders by status" in page and "Revenue" in page
        assert "Draft" in page and "330.00" in page and "Total" in page
        drill = re.search(r'href="(/reports/orders_by_status/drill\?[^"]*m=revenue[^"]*)"', r.text).group(1)
        d = c.get(drill.replace("&amp;", "&"))
        assert d.status_code == 200 and "3 records" in text_of(d.text) and "Globex" in text_of(d.text)
        assert "330.00" not in text_of(c.get("/reports/orders_by_status?p.min_total=15").text)
        assert "320.00" in text_of(c.get("/reports/orders_by_status?p.min_total=15").text)
        assert c.get("/reports/orders_by_status?p.min_total=abc").status_code == 400
        assert c.get("/reports/orders_by_status?p.nope=1").status_code == 400
        href = re.search(r'href="([^"]*format=csv[^"]*)"', r.text).group(1).replace("&amp;", "&")
        rows = list(csv.reader(io.StringIO(c.get(href).text)))
        assert rows[0][:3] == ["Status", "Orders", "Revenue"] and rows[1][:3] == ["Draft", "3", "330.00"]
        sign_in(c, "ann")  # her row rules: only her orders, in the figures and behind them
        page = text_of(c.get("/reports/orders_by_status").text)
        assert "30.00" in page and "330.00" not in page
        d = c.get(drill.replace("&amp;", "&"))
        assert "2 records" in text_of(d.text) and "Globex" not in text_of(d.text)


def test_report_page_permissions_and_bad_input(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        add_user(app, "nobody")
        sign_in(c, "nobody")
        assert c.get("/reports/orders_by_status").status_code == 403
        assert c.get("/reports/orders_by_status/drill?d.status=draft").status_code == 403
        assert "Orders by status" not in c.get("/home").text
        sign_in(c, "max")
        assert c.get("/reports/nothing").status_code == 404
        assert c.get("/reports/orders_by_status/drill?d.nope=1").status_code == 400
        assert c.get("/reports/orders_by_status/drill?d.status=draft&m=nope").status_code == 400
        sign_in(c, "max")
        c.get("/lang?to=zh&next=/home")
        page = text_of(c.get("/reports/orders_by_status").text)
        assert "订单状态" in page and "销售额" in page and "合计" in page
