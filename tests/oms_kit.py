"""Small OMS master data for the returns, replenishment and report tests (builtin:oms)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ordo.dsl.expr import Clock
from ordo.engine import open_app

NOW = dt.datetime(2026, 3, 16, 9, 0)
TODAY = NOW.date()

WAREHOUSES = [("SH", "east", 1), ("BJ", "north", 2)]
PRODUCTS = [  # code, category, price, cost, pack size, supplier
    ("P1", "PHONE", Decimal("100.00"), Decimal("60.00"), 10, "SUP1"),
    ("P2", "PHONE", Decimal("50.00"), Decimal("30.00"), 6, "SUP1"),
    ("P3", "HOME", Decimal("20.00"), Decimal("8.00"), 1, "SUP2"),
]


def open_oms(db_url: str, now: dt.datetime = NOW) -> Any:
    app = open_app("builtin:oms", db_url, clock=Clock(fixed=now))
    with app.transaction("admin") as tx:
        for code, kind in (("TMALL", "marketplace"), ("SHOP", "shop")):
            tx.create("channel", {"code": code, "channel_name": code, "channel_type": kind})
        for code, name in (("PHONE", "Phones"), ("HOME", "Home")):
            tx.create("product_category", {"code": code, "category_name": name})
        tx.create("supplier", {"code": "SUP1", "supplier_name": "Shenzhen Parts", "lead_time_days": 4})
        tx.create("supplier", {"code": "SUP2", "supplier_name": "Yiwu Goods", "lead_time_days": 9})
        for code, region, prio in WAREHOUSES:
            tx.create("warehouse", {"code": code, "warehouse_name": code, "region": region, "priority": prio})
        for code, cat, price, cost, pack, sup in PRODUCTS:
            tx.create("product", {"code": code, "product_name": code, "category": cat, "price": price,
                                  "floor_price": price * Decimal("0.5"), "cost": cost, "pack_size": pack,
                                  "supplier": sup})
        for i, region in enumerate(("east", "north", "east", "south")):
            tx.create("customer", {"code": f"C{i + 1}", "customer_name": f"Customer {i + 1}", "region": region,
                                   "phone": f"1380000000{i}"})
    return app


def stock(app: Any, warehouse: str, product: str, on_hand: int, **more: Any) -> dict:
    return app.create("stock_level", {"warehouse": warehouse, "product": product, "on_hand": on_hand, **more},
                      user="admin")


def order(app: Any, customer: str, lines: list[tuple], *, channel: str = "TMALL", at: dt.datetime | None = None,
          status: str | None = None, region: str = "east", ext: str | None = None, **more: Any) -> dict:
    """lines: (product, quantity, unit_price[, warehouse])."""
    order.counter = getattr(order, "counter", 0) + 1  # type: ignore[attr-defined]
    data = {"channel": channel, "external_order_id": ext or f"X{order.counter:05d}",  # type: ignore[attr-defined]
            "customer": customer, "order_date": at or NOW, "ship_region": region, "ship_to_name": "Buyer",
            "phone": "13900000000", "ship_province": "Shanghai", "ship_city": "Shanghai",
            "ship_address": "1 Road", "lines": [
                {"product": ln[0], "quantity": ln[1], "unit_price": ln[2],
                 **({"warehouse": ln[3]} if len(ln) > 3 else {})} for ln in lines], **more}
    rec = app.create("sales_order", data, user="admin")
    if status is not None and rec["status"] != status:
        extra = {"cancel_reason": "test"} if status == "cancelled" else {}
        extra |= {"hold_reason": "test"} if status == "on_hold" else {}
        rec = app.update("sales_order", rec["id"], {"status": status, **extra}, user="admin")
    return rec
