"""Overlays from the command line: ordo clone / effective / diff / upgrade, and the 3-way upgrade when the
base moves (v1 -> v2): non-conflicting base changes are taken, conflicts are reported with both sides."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.loader import load_app
from ordo.engine.cli import main

from .conftest import write_app
from .overlay_apps import BASE, overlay


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


CUSTOMER = {
    "entities/order.yaml": """
        name: order
        label: {zh: 订货单}
        fields:
          rush: {type: boolean, default: false, after: code}
          amount: {default: 10}
    """,
    "flows/approve.yaml": """
        name: approve
        nodes:
          finance: {after: check, type: approval, approvers: [{role: boss}]}
    """,
    "reports/extra.yaml": """
        name: rush_orders
        source: order
        filters: ["rush"]
        measures: [{name: orders, agg: count}]
    """,
}


def release(tmp_path, changes: dict[str, str], version: str = "1.1.0"):
    """The base pack moves to ``version``: the old one is kept in versions/1.0.0/."""
    root = tmp_path / "base"
    shutil.copytree(root, tmp_path / "v1", ignore=shutil.ignore_patterns("versions"))
    (root / "versions").mkdir(exist_ok=True)
    shutil.move(tmp_path / "v1", root / "versions" / "1.0.0")
    for rel, text in changes.items():
        (root / rel).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    app_yaml = root / "app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("version: 1.0.0", f"version: {version}"))


@pytest.fixture
def cust(tmp_path):
    write_app(tmp_path / "base", BASE, "base")
    files = overlay(CUSTOMER)
    files["app.yaml"] = "name: cust\nversion: 1\nextends: {pack: ../base, version: 1.0.0}  # pinned\n"
    return write_app(tmp_path / "cust", files, "cust")


def test_clone_creates_a_skeleton_that_extends_the_pack(tmp_path, capsys):
    code, out, _ = run(capsys, "clone", "builtin:oms", tmp_path / "acme")
    assert code == 0 and "extending builtin:oms 1.0.0" in out
    root = tmp_path / "acme"
    assert "extends: {pack: builtin:oms, version: 1.0.0}" in (root / "app.yaml").read_text()
    assert (root / "entities").is_dir() and (root / "flows").is_dir() and not any((root / "entities").iterdir())
    assert "ordo upgrade" in (root / "README.md").read_text() and "after:" in (root / "README.md").read_text()
    code, out, _ = run(capsys, "diff", root)
    assert code == 0 and "no changes" in out
    code, _, err = run(capsys, "clone", "builtin:oms", root)
    assert code == 1 and "not empty" in err


def test_effective_prints_each_line_with_its_origin(cust, capsys):
    code, out, _ = run(capsys, "effective", cust, "entity", "order")
    assert code == 0
    lines = out.splitlines()
    assert any(ln.startswith("  zh: 订货单") and ln.endswith("# cust/entities/order.yaml:2") for ln in lines)
    assert any(ln.startswith("  en: Order") and ln.endswith("# base/entities/order.yaml:2") for ln in lines)
    assert any(ln.startswith("  rush:") and ln.endswith("cust/entities/order.yaml:4") for ln in lines)
    code, out, _ = run(capsys, "effective", cust, "flow", "approve")
    assert "    next: finance" in out and "cust/flows/approve.yaml:3" in out
    code, _, err = run(capsys, "effective", cust, "flow", "nope")
    assert code == 1 and "no flow 'nope'" in err


def test_diff_lists_the_changes_item_by_item(cust, capsys):
    code, out, _ = run(capsys, "diff", cust)
    assert code == 0
    assert "~ entity order" in out and "~ label.zh: 订单 -> 订货单" in out
    assert "+ fields.rush: {type: boolean, default: false}" in out
    assert "~ fields.amount.default: 0 -> 10" in out
    assert "~ nodes.check.next: finish -> finance" in out
    assert "+ report rush_orders (new)" in out and "cust/reports/extra.yaml:1" in out


def test_upgrade_takes_a_base_change_the_overlay_did_not_touch(tmp_path, cust, capsys):
    release(tmp_path, {"entities/order.yaml": BASE["entities/order.yaml"].replace(
        "note: {type: text}", "note: {type: text, max_length: 500}")})
    app = load_app(cust)  # loads: no conflict
    assert app.get("entity", "order").fields["note"].max_length == 500
    assert app.get("entity", "order").fields["amount"].default == 10
    code, out, _ = run(capsys, "validate", cust)
    assert code == 0 and "written against 1.0.0: `ordo upgrade` pins 1.1.0" in out
    code, out, _ = run(capsys, "upgrade", cust, "--check")
    assert code == 0 and "no conflicts" in out
    assert "version: 1.0.0" in (cust / "app.yaml").read_text()  # --check changes nothing
    code, out, _ = run(capsys, "upgrade", cust)
    assert code == 0
    assert (cust / "app.yaml").read_text().splitlines()[2] == "extends: {pack: ../base, version: 1.1.0}  # pinned"
    code, out, _ = run(capsys, "upgrade", cust)
    assert code == 0 and "up to date" in out


def test_a_conflicting_base_change_is_reported_with_both_sides(tmp_path, cust, capsys):
    release(tmp_path, {"entities/order.yaml": BASE["entities/order.yaml"].replace(
        "amount: {type: money, min: 0, default: 0}", "amount: {type: money, min: 0, default: 5}")})
    with pytest.raises(DefinitionErrors) as e:
        load_app(cust)
    (err,) = e.value.errors
    assert err.file.endswith("cust/entities/order.yaml") and err.line == 5
    text = str(err)
    assert "entity order fields.amount.default: the base changed it from 0 (base/versions/1.0.0/entities/order." \
           "yaml:11) in 1.0.0 to 5 (base/entities/order.yaml:11) in 1.1.0; this overlay sets 10" in text
    code, out, _ = run(capsys, "validate", cust)
    assert code == 1 and "conflict with ../base 1.1.0" in out
    code, out, _ = run(capsys, "upgrade", cust, "--check")
    assert code == 1 and "1 conflict(s)" in out and "this overlay sets 10" in out
    code, out, _ = run(capsys, "upgrade", cust)
    assert code == 1 and "nothing changed" in out and "version: 1.0.0" in (cust / "app.yaml").read_text()
    code, out, _ = run(capsys, "upgrade", cust, "--keep-mine")
    assert code == 0 and "version: 1.1.0" in (cust / "app.yaml").read_text()
    assert load_app(cust).get("entity", "order").fields["amount"].default == 10


def test_conflicts_on_removed_and_added_items(tmp_path, cust, capsys):
    release(tmp_path, {
        "flows/approve.yaml": BASE["flows/approve.yaml"].replace("outcome: done", "outcome: finished"),
        "entities/order.yaml": BASE["entities/order.yaml"].replace(
            "note: {type: text}", "note: {type: text}\n          rush: {type: string}"),
        "reports/more.yaml": "name: rush_orders\nsource: order\nmeasures: [{name: n, agg: count}]\n",
    })
    with pytest.raises(DefinitionErrors) as e:
        load_app(cust)
    text = str(e.value)
    assert "entity order fields.rush: the base changed it from (absent)" in text  # both added 'rush'
    assert "report rush_orders: the base changed it from (absent)" in text
    assert "approve" not in text  # the base's flow change is not the overlay's business


def test_a_pin_newer_than_the_installed_base_or_without_a_kept_version(tmp_path, cust, capsys):
    app_yaml = cust / "app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("version: 1.0.0", "version: 2.0"))
    with pytest.raises(DefinitionErrors) as e:
        load_app(cust)
    assert "installed ../base is version 1.0.0 (older)" in str(e.value)
    app_yaml.write_text(app_yaml.read_text().replace("version: 2.0", "version: 0.9"))
    with pytest.raises(DefinitionErrors) as e:
        load_app(cust)
    assert "keeps no copy of 0.9" in str(e.value)


def test_upgrade_pins_an_unpinned_overlay(tmp_path, capsys):
    write_app(tmp_path / "base", BASE, "base")
    files = overlay(CUSTOMER)
    files["app.yaml"] = "# Acme\nname: cust\nversion: 1\nextends: ../base   # the pack\n"
    app = write_app(tmp_path / "cust", files, "cust")
    code, out, _ = run(capsys, "upgrade", app, "--check")
    assert code == 0 and "without a version: pinning 1.0.0" in out
    assert "extends: ../base   # the pack" in (app / "app.yaml").read_text()
    code, out, _ = run(capsys, "upgrade", app)
    assert code == 0
    assert (app / "app.yaml").read_text() == \
        "# Acme\nname: cust\nversion: 1\nextends: {pack: ../base, version: 1.0.0}  # the pack\n"
    code, out, _ = run(capsys, "upgrade", app)
    assert code == 0 and "up to date" in out


def test_upgrade_refuses_an_app_that_extends_nothing(tmp_path, capsys):
    app = write_app(tmp_path / "base", BASE, "base")
    code, _, err = run(capsys, "upgrade", app)
    assert code == 1 and "extends nothing" in err
