"""``ordo demo``: the bundled starter app on a local SQLite file with sample data."""

from __future__ import annotations

import random

from ordo.dsl.loader import builtin_templates_dir

from . import textfmt
from .app import open_app
from .errors import ValidationFailed
from .seed import seed


def run_demo(db: str, seed_value: int = 7) -> int:
    rng = random.Random(seed_value)
    folder = builtin_templates_dir() / "starter"
    print(f"Ordo demo: app 'starter' on {db}")
    with open_app(folder, db) as app:
        result = seed(app, folder / "data", "demo", order=["customer"])
        print(f"sample data: {result.created or 'already loaded'}")
        items = [("Consulting hour", 120), ("Licence", 900), ("Support plan", 300), ("Training day", 650)]
        for code in ("ACME", "GLOBEX", "ACME"):
            lines = [{"description": d, "qty": rng.randint(1, 3), "unit_price": p}
                     for d, p in rng.sample(items, rng.randint(1, 3))]
            inv = app.create("invoice", {"customer": code, "lines": lines}, user="bob")
            print(f"created {inv['name']} for {code}: total {inv['total']}, net {inv['net_total']}")
        try:
            app.create("invoice", {"customer": "INITECH", "lines": [{"description": "Licence", "unit_price": 900}]},
                       user="bob")
        except ValidationFailed as e:
            print(f"refused as expected: {e}")
        big = app.query("invoice", "net_total > 500 and customer.level == 'vip'", user="alice",
                        order_by="-net_total", limit=5)
        print("\nVIP invoices above 500 (filter runs in SQL):")
        print(textfmt.table(big, ["name", "invoice_date", "due_date", "status", "total", "net_total"]))
        print("\nlatest changes (audit log):")
        rows = [{"at": e.at, "user": e.user, "action": e.action, "record": e.record_name}
                for e in app.audit_log(user="alice", limit=5)]
        print(textfmt.table(rows))
    return 0
