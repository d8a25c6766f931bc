"""Form tabs on the record page: consecutive sections with the same `tab` share one accessible tab panel;
without the page's script every panel shows; a tab holding a validation error is selected and marked."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from ordo.designer_api.server import create_server
from ordo.designer_api.settings import Settings
from ordo.dsl.errors import OrdoError
from ordo.engine import open_app

from .api_apps import SHOP, seed
from .web_kit import sign_in, text_of

TABBED = """
    name: order_form
    entity: order
    title: {en: Order, zh: 订单}
    sections:
      - {title: {en: Main, zh: 基本信息}, fields: [customer, status]}
      - {title: {en: Money, zh: 金额}, tab: {en: Amounts, zh: 金额页}, fields: [total]}
      - {title: {en: Dates, zh: 日期}, tab: {en: Amounts, zh: 金额页}, fields: [placed]}
      - {tab: {en: Lines, zh: 明细页}, fields: [lines]}
"""


@contextlib.contextmanager
def tabbed_shop(make_app: Any, db_url: str, form: str = TABBED) -> Iterator[tuple[Any, TestClient]]:
    root = make_app({**SHOP, "forms/order.yaml": form})
    app = open_app(root, db_url)
    try:
        seed(app)
        with TestClient(create_server(app, Settings(app=str(root), db=db_url)), follow_redirects=False) as client:
            yield app, client
    finally:
        app.close()


def tabs_of(html: str) -> list[tuple[str, str, str]]:
    """(id, aria-selected, text) of every tab."""
    return [(i, sel, text_of(body).strip()) for i, sel, body in
            re.findall(r'<button type="button" role="tab" id="([^"]+)"[^>]*aria-selected="(\w+)"[^>]*>(.*?)</button>',
                       html)]


def test_sections_with_the_same_tab_share_a_panel(make_app, db_url):
    with tabbed_shop(make_app, db_url) as (app, c):
        sign_in(c, "max")
        html = c.get("/app/order/new").text
        assert [t[2] for t in tabs_of(html)] == ["Amounts", "Lines"]
        assert [t[1] for t in tabs_of(html)] == ["true", "false"]  # the first tab selected
        assert html.count('role="tablist"') == 1 and html.count('role="tabpanel"') == 2
        panel = html[html.index('id="tab-1-0-panel"'):html.index('id="tab-1-1-panel"')]
        assert 'aria-labelledby="tab-1-0"' in panel
        assert 'data-ordo-field="total"' in panel and 'data-ordo-field="placed"' in panel  # both sections
        main = html[:html.index('role="tablist"')]
        assert 'data-ordo-field="customer"' in main  # an untabbed section stays outside the tabs
        # without the script, every panel shows (none hidden), each under its own heading
        assert not re.search(r'role="tabpanel"[^>]*hidden', html)
        assert '<h2 class="tab-title">Lines</h2>' in html
        zh = c.get("/app/order/new?lang=zh").text
        assert [t[2] for t in tabs_of(zh)] == ["金额页", "明细页"]


def test_a_tab_holding_an_error_is_selected_and_marked(make_app, db_url):
    with tabbed_shop(make_app, db_url) as (app, c):
        csrf = sign_in(c, "max")
        data = {"csrf_token": csrf, "customer": "C1", "total": "10", "status": "draft",
                "lines.0.product": "P1", "lines.0.qty": "0", "lines.0.price": "1"}
        r = c.post("/app/order/new", data=data)
        assert r.status_code == 422
        tabs = tabs_of(r.text)
        assert [(t[1], t[2]) for t in tabs] == [("false", "Amounts"), ("true", "Lines !")]
        lines_tab = r.text[r.text.index('id="tab-1-1"') - 80:r.text.index('id="tab-1-1"') + 200]
        assert 'class="invalid"' in lines_tab
        assert app.count("order", user="max") == 0


@pytest.mark.parametrize("sections, message", [
    ("[{tab: A, fields: [total]}, {fields: [status]}, {tab: A, fields: [placed]}]", "must follow each other"),
    ("[{tab: {en: ''}, fields: [total]}]", "a tab needs a label"),
])
def test_bad_tabs_are_refused_with_the_section(make_app, sections, message):
    form = f"name: order_form\nentity: order\nsections: {sections}\n"
    with pytest.raises(OrdoError) as err:
        open_app(make_app({**SHOP, "forms/order.yaml": form}), "sqlite://").close()
    assert message in str(err.value) and "sections" in str(err.value)


def test_a_tab_whose_sections_are_all_folded_away_is_hidden(make_app, db_url):
    form = TABBED + "      - {tab: {en: Rush, zh: 加急}, fields: [subject], visible_if: rush}\n"
    with tabbed_shop(make_app, db_url, form) as (app, c):
        sign_in(c, "max")
        html = c.get("/app/order/new").text
        rush = re.search(r'<button type="button" role="tab" id="tab-1-2"[^>]*>', html).group(0)
        assert " hidden" in rush and 'aria-selected="false"' in rush
        assert [t[2] for t in tabs_of(html)] == ["Amounts", "Lines", "Rush"]  # still there for the rules to show
