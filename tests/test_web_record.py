"""The record page over HTTP: create and change records through the form (child rows, links by name,
errors at their fields), optimistic locking, the timeline, link pickers; same permissions as the API."""

from __future__ import annotations

from .api_apps import order_body
from .web_kit import shop, sign_in, text_of


def order_form(csrf: str, **extra: str) -> dict[str, str]:
    data = {"csrf_token": csrf, "customer": "C1", "total": "33.00", "status": "draft",
            "lines.0.product": "P1", "lines.0.qty": "2", "lines.0.price": "12.50",
            "lines.1.product": "P2", "lines.1.qty": "1", "lines.1.price": "8"}
    data.update(extra)
    return data


def test_create_a_record_with_two_lines_through_the_form(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        csrf = sign_in(c, "max")
        r = c.get("/app/order/new")
        assert r.status_code == 200
        html = r.text
        assert 'data-ordo-form="order_form"' in html and 'data-ordo-child="lines"' in html
        assert "<template data-ordo-row-template>" in html and 'name="lines.N.qty"' in html
        assert 'data-picker="customer"' in html and 'data-ordo-field="total"' in html
        r = c.post("/app/order/new", data=order_form(csrf))
        assert r.status_code == 303, r.text
        rec = app.get("order", app.query("order", user="max")[0]["id"], "max")
        assert [(ln["qty"], str(ln["price"])) for ln in rec["lines"]] == [(2, "12.50"), (1, "8.00")]
        assert r.headers["location"] == f"/app/order/{rec['id']}?done=created"
        page = c.get(r.headers["location"])
        assert page.status_code == 200 and "Created." in page.text
        assert 'value="Acme"' in page.text and 'name="customer" value="C1"' in page.text  # picker: title + name
        assert 'name="lines.1.id"' in page.text
        assert "created the record" in text_of(page.text)  # timeline


def test_validation_errors_show_at_their_fields_and_keep_the_input(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        csrf = sign_in(c, "max")
        r = c.post("/app/order/new", data=order_form(csrf, **{"lines.1.qty": "0", "total": "-5"}))
        assert r.status_code == 422
        assert 'id="f-total-error"' in r.text or "invalid" in r.text
        assert 'name="lines.1.qty" type="number" value="0"' in r.text  # the user's input kept
        assert 'value="Acme"' in r.text  # the chosen customer still shown by title
        cell = r.text[r.text.index('name="lines.1.qty"'):][:600]
        assert 'class="error"' in cell
        assert app.count("order", user="max") == 0  # nothing saved
        r = c.post("/app/order/new", data=order_form(csrf, nonsense="1"))
        assert r.status_code == 422 and "unknown field" in r.text
        r = c.post("/app/order/new", data=order_form(""))
        assert r.status_code == 403  # CSRF enforced
        r = c.post("/app/order/new", content=b"\xff\xfe", headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400


def test_saving_over_someone_elses_change_says_so_and_keeps_the_input(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        rec = app.create("order", order_body(), "max")
        csrf = sign_in(c, "max")
        page = c.get(f"/app/order/{rec['id']}").text
        assert 'name="version" value="1"' in page
        app.update("order", rec["id"], {"total": "99"}, "ann")  # someone else saves meanwhile
        form = order_form(csrf, version="1", total="44.00", **{"lines.0.id": str(rec["lines"][0]["id"])})
        r = c.post(f"/app/order/{rec['id']}", data=form)
        assert r.status_code == 409 and "Someone else changed this record" in r.text
        assert 'name="total" type="number" value="44.00"' in r.text and 'name="version" value="2"' in r.text
        assert str(app.get("order", rec["id"], "max")["total"]) == "99.00"
        r = c.post(f"/app/order/{rec['id']}", data={**form, "version": "2"})
        assert r.status_code == 303
        saved = app.get("order", rec["id"], "max")
        assert str(saved["total"]) == "44.00" and len(saved["lines"]) == 2
        timeline = text_of(c.get(f"/app/order/{rec['id']}").text)
        assert "changed" in timeline and "99.00 → 44.00" in timeline


def test_record_page_permissions(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        bobs = app.create("order", order_body(owner="bob", customer="C2"), "max")
        csrf = sign_in(c, "ann")
        assert c.get(f"/app/order/{bobs['id']}").status_code == 404  # unreadable like missing
        assert c.get(f"/app/order/{bobs['name']}").status_code == 404
        assert c.post(f"/app/order/{bobs['id']}", data=order_form(csrf, version="1")).status_code == 404
        page = c.get("/app/product/P1").text
        assert 'name="cost"' not in page and "4.00" not in page  # hidden field
        assert 'name="price"' in page
        r = c.post("/app/product/P1", data={"csrf_token": csrf, "version": "1", "title": "Big mug", "cost": "1"})
        assert r.status_code == 422 and "unknown field" in r.text
        r = c.post("/app/product/P1", data={"csrf_token": csrf, "version": "1", "title": "Big mug", "price": "1"})
        assert r.status_code == 303  # a read-only field's input is display only: never saved
        assert str(app.get("product", "P1", "root")["price"]) == "12.50"
        assert app.get("product", "P1", "root")["title"] == "Big mug"
        assert c.get("/app/customer/new").status_code == 403
        items = c.get("/pick/customer?term=").json()["items"]
        assert items == [{"name": "C1", "title": "Acme"}]  # only her region's customers
        assert c.get("/pick/customer?term=glob").json()["items"] == []
        assert c.get("/pick/nothing").status_code == 404
        assert c.get("/app/order/x%00y").status_code in (400, 404)
        assert c.get("/app/order/" + "9" * 30).status_code in (400, 404)
