"""The designer's acceptance, end to end in headless Chromium (selenium), on the OMS demo served by ``ordo
serve``'s Starlette app (uvicorn in a thread) with its definitions stored in the database.

Mia, an operations manager (the OMS gives her role the ``designer`` privilege), raises the order
manual-review threshold (the ``risk_total_limit`` rule of sales_order and the risk policy's default) in
the YAML tab, inserts a finance approval for orders above 50,000 in the flow designer (a condition step
and an approval step, the condition typed in the expression box that checks it as she types), makes a typo
in the YAML tab and sees the error at its line, fixes it, simulates a 60,000 order on the draft (the
finance task appears, for Fiona), and publishes. A new 60,000 order then follows the new path (finance
approval, no manual review) while an order started before the publish still follows the old flow graph,
the version it started on (no finance step: reviewed straight into the merge window). Entity rules such as
the threshold apply to every record as published (records are not versioned; flow instances are).

Screenshots go to ``$ORDO_SCREENSHOTS`` (else a temporary folder); the run prints where.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .test_web_browser import _browser_missing, browser, serving, shots, sign_in, wait_for  # noqa: F401

pytestmark = pytest.mark.skipif(_browser_missing() is not None, reason=_browser_missing() or "")

FLOW = "flows/order_lifecycle.yaml"
OLD_LIMIT = "coalesce(max(policy, max_order_total), 20000)"
NEW_LIMIT = "coalesce(max(policy, max_order_total), 100000)"


@pytest.fixture(scope="module")
def served(tmp_path_factory: Any) -> Iterator[tuple[str, Any]]:
    """(base URL, server): the OMS demo on SQLite, its definitions stored as version 1, served in a thread."""
    from ordo.designer_api.server import create_server
    from ordo.designer_api.settings import Settings
    from ordo.engine.cli.app_commands import demo_passwords
    from ordo.engine.definitions.opening import open_stored
    from ordo.engine.scenario import run_scenario

    db = tmp_path_factory.mktemp("oms") / "oms.db"
    app = open_stored("builtin:oms", f"sqlite:///{db}", import_first=True)
    run_scenario(app, "demo", out=io.StringIO(), variables={"seed": 7})
    demo_passwords(app)
    server_app = create_server(app, Settings(app="builtin:oms", db=str(db)))
    try:
        with serving(server_app) as base:
            yield base, server_app
    finally:
        app.close()


def order(ext: str, paid: bool) -> dict[str, Any]:
    """A 60,000 store order for a walk-in customer (no other risk rule holds for it)."""
    return {"channel": "STORE", "external_order_id": ext, "customer": "STORE-WALKIN-1", "ship_to_name": "Li Lei",
            "phone": f"1390000{abs(hash(ext)) % 10000:04d}", "ship_region": "east", "ship_province": "江苏省",
            "ship_city": "苏州市", "ship_address": "星湖街 1 号", "payment_status": "paid" if paid else "unpaid",
            **({"paid_amount": 60000} if paid else {}),
            "lines": [{"product": "DEMO-KETTLE", "quantity": 1, "unit_price": 60000}]}


def api(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    r = httpx.request(method, f"{base}/api/v1{path}", json=body, headers={"Authorization": f"Bearer {token}"},
                      timeout=30)
    assert r.status_code < 300, r.text
    return r.json()


def flow_of(server_app: Any, order_id: int) -> tuple[str, int, dict[str, str]]:
    """(step it is at, flow version id, node -> task status) of the order's lifecycle instance."""
    app = server_app.state.ordo
    flows = app.features["flows"]
    with app.reader("admin") as tx:
        inst = next(i for i in flows.instances(tx, "sales_order", order_id) if i.flow == "order_lifecycle")
        tasks = {t["node"]: t["status"] for t in flows.tasks(tx, inst.id, status=None)}
        return inst.current, inst.version_id, tasks


def set_textarea(d: Any, css: str, text: str) -> None:
    """Replace a textarea's text as typing would (the page hears an input event)."""
    d.execute_script("const a = document.querySelector(arguments[0]); a.value = arguments[1];"
                     "a.dispatchEvent(new Event('input', {bubbles: true}));", css, text)


def test_business_user_changes_the_order_flow_in_the_designer(served: tuple[str, Any], browser: Any,  # noqa: F811
                                                             shots: Path) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from ordo.engine.definitions import DefinitionStore

    from .api_kit import token_for

    base, server_app = served
    app = server_app.state.ordo
    store = DefinitionStore(app.engine)
    token = token_for(app, "cathy")
    d = browser
    wait = WebDriverWait(d, 60)

    # an order started before the change: it waits for its payment on version 1
    before = api(base, token, "POST", "/records/sales_order", order("DESIGNER-BEFORE", paid=False))

    sign_in(d, base, "mia")
    d.find_element(By.LINK_TEXT, "Designer").click()
    wait_for(d, "#definitions")
    assert "Order lifecycle" in d.find_element(By.ID, "definitions").text
    d.save_screenshot(str(shots / "designer-home.png"))

    # 1. raise the manual-review threshold: the sales order's risk rule and the risk policy's default
    for path, old, new in (("entities/sales_order.yaml", OLD_LIMIT, NEW_LIMIT),
                           ("entities/risk_policy.yaml", "default: 20000", "default: 100000")):
        d.get(f"{base}/designer/file?path={path}")
        area = wait_for(d, "#yaml-text")
        text = area.get_attribute("value")
        assert old in text
        set_textarea(d, "#yaml-text", text.replace(old, new))
        wait.until(lambda drv: drv.find_element(By.CSS_SELECTOR, ".yaml-status").get_attribute("data-state")
                   == "valid")
        d.find_element(By.CSS_SELECTOR, "form.yaml-form button[type=submit]").click()
        wait_for(d, "#done")
        assert new in store.draft()[path]

    # 2. the flow designer: click the merge window step, insert a finance approval before it for orders
    #    above 50,000; the expression box checks the condition as it is typed
    d.get(f"{base}/designer/flow/order_lifecycle")
    wait_for(d, "#draft-diagram svg")
    d.find_element(By.CSS_SELECTOR, "#draft-diagram #node-merge_window rect").click()
    wait_for(d, "#node-form")
    assert "merge_window" in d.current_url
    form = d.find_element(By.ID, "insert-form")
    assert Select(form.find_element(By.NAME, "anchor")).first_selected_option.get_attribute("value") == "merge_window"
    Select(form.find_element(By.NAME, "position")).select_by_value("before")
    form.find_element(By.NAME, "new_name").send_keys("finance_approval")
    form.find_element(By.NAME, "label_en").send_keys("Finance approval")
    form.find_element(By.NAME, "label_zh").send_keys("财务审批")
    Select(form.find_element(By.NAME, "approver_kind")).select_by_value("role")
    form.find_element(By.NAME, "approver_value").send_keys("finance")
    when = form.find_element(By.NAME, "when")
    when.send_keys("totl > 50000")
    wait.until(lambda drv: when.get_attribute("aria-invalid") == "true")
    assert "totl" in form.find_element(By.CSS_SELECTOR, "small.expr-status").text
    when.clear()
    when.send_keys("total > 50000")
    wait.until(lambda drv: when.get_attribute("aria-invalid") == "false")
    d.save_screenshot(str(shots / "designer-insert.png"))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(d, "#done")
    assert d.find_elements(By.CSS_SELECTOR, "#draft-diagram #node-finance_approval")
    assert d.find_elements(By.CSS_SELECTOR, "#draft-diagram #node-finance_approval_check")
    assert not d.find_elements(By.CSS_SELECTOR, "#published-diagram #node-finance_approval")
    d.save_screenshot(str(shots / "designer-flow.png"))

    # 3. a typo in the YAML tab: the error shows at its line; fixing it clears it
    d.find_element(By.ID, "tab-yaml").click()
    area = wait_for(d, "#yaml-text")
    text = area.get_attribute("value")
    assert "total > 50000" in text and "finance_approval_check:" in text
    typo = text.replace("total > 50000", "totl > 50000")
    line = typo.splitlines().index(next(x for x in typo.splitlines() if "totl > 50000" in x)) + 1
    set_textarea(d, "#yaml-text", typo)
    error = wait_for(d, "#errors a.at-line")
    assert error.text.startswith(f"{FLOW}:{line}:") and "totl" in d.find_element(By.ID, "errors").text
    assert d.find_element(By.CSS_SELECTOR, ".gutter b.bad").get_attribute("textContent") == str(line)
    error.click()  # selects the line in the text
    assert d.execute_script("const a = document.getElementById('yaml-text');"
                            "return a.value.substring(a.selectionStart, a.selectionEnd);").strip().startswith("- ")
    d.save_screenshot(str(shots / "designer-typo.png"))
    set_textarea(d, "#yaml-text", text)
    wait.until(lambda drv: not drv.find_elements(By.CSS_SELECTOR, "#errors a.at-line"))
    assert store.draft()[FLOW] == text  # the typo was never saved

    # 4. simulate a 60,000 order on the draft: the finance task appears, for Fiona
    d.get(f"{base}/designer/flow/order_lifecycle/simulate")
    sample = d.find_element(By.NAME, "sample")
    sample.send_keys(json.dumps(order("SIM-1", paid=True)))
    d.find_element(By.CSS_SELECTOR, "#simulate-form button[type=submit]").click()
    row = wait_for(d, "#path tr[data-node=finance_approval]")
    assert "fiona" in row.find_element(By.CSS_SELECTOR, "td.asks").text
    assert not d.find_elements(By.CSS_SELECTOR, "#path tr[data-node=manual_review]")
    d.save_screenshot(str(shots / "designer-simulate.png"))

    # 5. publish with a note
    d.get(f"{base}/designer")
    changes = wait_for(d, "#changes").text
    assert "finance_approval" in changes
    d.find_element(By.CSS_SELECTOR, "#publish input[name=note]").send_keys("finance approval above 50,000")
    d.find_element(By.CSS_SELECTOR, "#publish button[name=publish]").click()
    wait_for(d, "#done")
    assert store.published() == 2
    assert "finance approval above 50,000" in d.find_element(By.ID, "versions").text
    d.save_screenshot(str(shots / "designer-published.png"))

    # 6. a new order follows the new path; the order started before follows the old one
    after = api(base, token, "POST", "/records/sales_order", order("DESIGNER-AFTER", paid=True))
    api(base, token, "PATCH", f"/records/sales_order/{before['id']}", {"payment_status": "paid", "paid_amount": 60000})
    at, version, tasks = flow_of(server_app, after["id"])
    assert at == "finance_approval" and tasks == {"finance_approval": "pending"}
    old_at, old_version, old_tasks = flow_of(server_app, before["id"])
    assert old_version != version and "finance_approval" not in old_tasks
    assert old_at == "merge_window"  # the old graph: reviewed straight into the merge window, no finance step

    # the form designer's live preview, and the designer in Chinese
    d.get(f"{base}/designer/form/sales_order")
    wait_for(d, "#preview form, #preview fieldset")
    d.save_screenshot(str(shots / "designer-form.png"))
    d.get(f"{base}/designer?lang=zh")
    assert "设计器" in wait_for(d, "#definitions").text or "定义" in d.find_element(By.ID, "definitions").text
    assert "流程" in d.find_element(By.ID, "definitions").text
    d.save_screenshot(str(shots / "designer-zh.png"))

    # 7. Fiona finds the finance task in her inbox
    sign_in(d, base, "fiona")
    d.get(f"{base}/inbox")
    assert "DESIGNER-AFTER" in d.page_source or after["name"] in d.page_source
    d.save_screenshot(str(shots / "designer-finance-inbox.png"))
