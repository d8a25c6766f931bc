"""Whatever a browser or a client sends to the pages is answered with a page (2xx, 3xx or 4xx), never a
server error (the TestClient raises on any 500)."""

from __future__ import annotations

from .api_apps import order_body
from .web_kit import shop, sign_in

ODD = ["", "x" * 5000, "%00", "'", "1e309", "99999999999999999999", "2026-13-45", "名字"]


def test_pages_answer_odd_input_with_4xx(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        rec = app.create("order", order_body(status="submitted"), "ann")
        csrf = sign_in(c, "max")
        for odd in ODD:
            for url in (f"/app/order?size={odd}&page={odd}&sort={odd}", f"/app/order?f=total&o=gt&v={odd}",
                        f"/app/order?f={odd}&o={odd}&v=1", f"/app/order?f=placed&o=eq&v={odd}",
                        f"/app/order?f=customer&o=lt&v={odd}", f"/app/order?q={odd}", f"/app/order/{odd}",
                        f"/app/order/export.csv?q={odd}", f"/pick/customer?term={odd}",
                        f"/reports/orders_by_status?p.min_total={odd}", f"/reports/orders_by_status/drill?d.status={odd}&m={odd}",
                        f"/inbox/{odd}", f"/lang?to={odd}&next={odd}", f"/signin?next={odd}", f"/{odd}"):
                r = c.get(url, follow_redirects=False)
                assert r.status_code < 500, (url, r.status_code)
            for url, data in ((f"/app/order/{rec['id']}", {"csrf_token": csrf, "version": odd, "total": odd}),
                              (f"/app/order/{rec['id']}", {"csrf_token": csrf, "version": "1", "total": odd,
                                                           "placed": odd, "customer": odd, "lines.0.qty": odd,
                                                           f"lines.{odd}.qty": "1"}),
                              ("/app/order/new", {"csrf_token": csrf, "customer": odd, "rush": odd, odd: odd}),
                              ("/inbox/1/approve", {"csrf_token": csrf, "comment": odd}),
                              ("/inbox/1/transfer", {"csrf_token": csrf, "to": odd}),
                              ("/inbox/bulk", {"csrf_token": csrf, "task": odd}),
                              ("/app/order/bulk", {"csrf_token": csrf, "id": odd, "field": odd, "value": odd}),
                              ("/app/order/views", {"csrf_token": csrf, "name": odd, "query": odd}),
                              ("/signin", {"user": odd, "password": odd})):
                r = c.post(url, data=data, follow_redirects=False)
                assert r.status_code < 500, (url, data, r.status_code)
            sign_in(c, "max")  # a sign-in attempt above may have replaced the session
            csrf = sign_in(c, "max")
        r = c.post("/app/order/new", content=b"a=" + b"x" * 2_000_000,
                   headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413
        r = c.post("/app/order/new", content=b'{"a": 1}', headers={"content-type": "application/json"})
        assert r.status_code == 415
