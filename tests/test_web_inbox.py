"""The inbox page over HTTP: tasks with key facts, approve / reject / transfer / urge, bulk approve, the flow
diagram with the current step marked; only the user's own tasks, CSRF on every action."""

from __future__ import annotations

import re

from .api_apps import order_body
from .api_kit import add_user
from .web_kit import shop, sign_in, text_of


def task_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-task="(\d+)"', html)]


def test_inbox_lists_tasks_with_key_facts_and_approves(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        rec = app.create("order", order_body(status="submitted", subject="Mugs for Acme"), "ann")
        csrf = sign_in(c, "max")
        r = c.get("/inbox")
        page = text_of(r.text)
        assert r.status_code == 200 and "Mugs for Acme" in page and "Manager review" in page
        assert "Acme" in page and "37.50" in page and "for your role Manager" in page  # key facts, why
        (task,) = task_ids(r.text)
        detail = c.get(f"/inbox/{task}")
        assert detail.status_code == 200 and "<svg" in detail.text
        assert 'id="node-review" aria-current="step"' in detail.text  # the current position highlighted
        assert ">Manager review</text>" in detail.text and ">approval</text>" in detail.text
        zh = c.get(f"/inbox/{task}?lang=zh").text  # step labels in the user's language
        assert ">经理审核</text>" in zh and ">审批</text>" in zh and ">Manager review</text>" not in zh
        assert 'id="node-review" aria-current="step"' in zh
        assert c.post(f"/inbox/{task}/approve", data={"comment": "ok"}).status_code == 403  # CSRF
        r = c.post(f"/inbox/{task}/approve", data={"csrf_token": csrf, "comment": "fine"})
        assert r.status_code == 303 and r.headers["location"] == "/inbox?done=approve"
        assert "approve" in text_of(c.get(r.headers["location"]).text).lower()
        assert task_ids(c.get("/inbox").text) == []
        timeline = text_of(c.get(f"/app/order/{rec['id']}").text)
        assert "approved" in timeline and "fine" in timeline


def test_inbox_shows_only_the_users_tasks_and_refuses_bad_actions(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        app.create("order", order_body(status="submitted"), "ann")
        csrf = sign_in(c, "max")
        (task,) = task_ids(c.get("/inbox").text)
        r = c.post(f"/inbox/{task}/transfer", data={"csrf_token": csrf, "to": "nobody"})
        assert 400 <= r.status_code < 500 and "nobody" in r.text
        r = c.post(f"/inbox/{task}/transfer", data={"csrf_token": csrf})
        assert r.status_code == 400 and "the user to hand the task to" in r.text
        assert c.post(f"/inbox/{task}/explode", data={"csrf_token": csrf}).status_code == 404
        assert c.post("/inbox/99999/approve", data={"csrf_token": csrf}).status_code == 404
        assert c.get("/inbox/abc").status_code == 404
        csrf = sign_in(c, "ann")
        assert task_ids(c.get("/inbox").text) == []
        assert c.post(f"/inbox/{task}/approve", data={"csrf_token": csrf}).status_code in (403, 404)
        assert app.features["flows"].status  # the task is still pending
        sign_in(c, "max")
        assert task_ids(c.get("/inbox").text) == [task]


def test_bulk_approve_and_transfer(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        add_user(app, "meg", ("manager",))
        for i in range(3):
            app.create("order", order_body(status="submitted", subject=f"O{i}"), "ann")
        csrf = sign_in(c, "max")
        tasks = task_ids(c.get("/inbox").text)
        assert len(tasks) == 3
        r = c.post(f"/inbox/{tasks[0]}/transfer", data={"csrf_token": csrf, "to": "meg", "comment": "yours"})
        assert r.status_code == 303
        r = c.post("/inbox/bulk", data={"csrf_token": csrf,
                                        "task": [str(tasks[1]), str(tasks[2]), "999999"]})
        assert r.status_code == 303 and r.headers["location"] == "/inbox?ok=2&failed=1"
        assert "2 approved, 1 not approved" in text_of(c.get(r.headers["location"]).text)
        assert task_ids(c.get("/inbox").text) == []
        sign_in(c, "meg")
        assert len(task_ids(c.get("/inbox").text)) == 1


def test_inbox_pages_with_the_total_and_finds_a_task_past_the_first_page(make_app, db_url):
    from ordo.designer_api.web import inbox as inbox_module

    with shop(make_app, db_url) as (app, c):
        size = inbox_module.PAGE_SIZE
        for i in range(size + 3):
            app.create("order", order_body(status="submitted", subject=f"O{i}"), "ann")
        csrf = sign_in(c, "max")
        first = c.get("/inbox")
        assert first.status_code == 200
        assert f"Showing 1–{size} of {size + 3}" in text_of(first.text) and f"({size + 3})" in text_of(first.text)
        assert 'href="/inbox?page=2" rel="next"' in first.text and 'rel="prev"' not in first.text
        page1 = task_ids(first.text)
        second = c.get("/inbox?page=2")
        page2 = task_ids(second.text)
        assert len(page1) == size and len(page2) == 3 and not set(page1) & set(page2)  # never cut, no overlap
        assert f"Showing {size + 1}–{size + 3} of {size + 3}" in text_of(second.text)
        assert 'href="/inbox?page=1" rel="prev"' in second.text and 'rel="next"' not in second.text
        assert second.text.count('name="page" value="2"') == 3 * 3 + 1  # each task's forms and the bulk form
        assert "第 1–" in text_of(c.get("/inbox?lang=zh").text) and "下一页" in c.get("/inbox?lang=zh").text
        assert task_ids(c.get("/inbox?page=99").text) == page2  # past the end: the last page
        for bad in ("0", "-1", "x", "9" * 40):
            assert task_ids(c.get(f"/inbox?page={bad}").text) == page1
        # the task page of a task past the first page shows its task panel (with its actions)
        last = page2[-1]
        detail = c.get(f"/inbox/{last}").text
        assert f'data-task="{last}"' in detail and f'action="/inbox/{last}/approve"' in detail
        # acting from page 2 comes back to page 2
        r = c.post(f"/inbox/{last}/approve", data={"csrf_token": csrf, "comment": "ok", "page": "2"})
        assert r.status_code == 303 and r.headers["location"] == "/inbox?done=approve&page=2"
        assert task_ids(c.get(r.headers["location"]).text) == page2[:-1]
        r = c.post("/inbox/bulk", data={"csrf_token": csrf, "task": [str(t) for t in page2[:-1]], "page": "2"})
        assert r.headers["location"] == "/inbox?ok=2&failed=0&page=2"
        after = c.get(r.headers["location"])  # page 2 is gone: the last page, no pager left
        assert task_ids(after.text) == page1 and 'class="pager"' not in after.text
        assert f"Showing 1–{size} of {size}" in text_of(after.text)


def test_task_panel_only_for_a_task_on_the_users_desk(make_app, db_url):
    with shop(make_app, db_url) as (app, c):
        add_user(app, "meg", ("manager",))
        rec = app.create("order", order_body(status="submitted", subject="Mugs for Acme"), "ann")
        csrf = sign_in(c, "max")
        (task,) = task_ids(c.get("/inbox").text)
        assert f'data-task="{task}"' in c.get(f"/inbox/{task}").text
        assert c.post(f"/inbox/{task}/transfer", data={"csrf_token": csrf, "to": "meg"}).status_code == 303
        detail = c.get(f"/inbox/{task}")  # transferred: no longer max's to act on, no panel
        assert detail.status_code == 200 and 'data-task=' not in detail.text and "<svg" in detail.text
        sign_in(c, "meg")
        (mine,) = task_ids(c.get("/inbox").text)
        assert mine != task and f'data-task="{mine}"' in c.get(f"/inbox/{mine}").text
        sign_in(c, "ann")  # the record's owner reads the task page but may not act: no panel
        page = c.get(f"/inbox/{mine}")
        assert page.status_code == 200 and "data-task=" not in page.text
        assert f"/app/order/{rec['id']}" in page.text
