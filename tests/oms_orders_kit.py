"""Small, explicit OMS data for the order-side tests (channels, customers, products, warehouses, stock)."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from typing import Any

from ordo.dsl.expr import Clock
from ordo.engine import open_app

T0 = dt.datetime(2026, 3, 2, 9, 0)

WAREHOUSES = [  # code, region, lat, lon, priority
    ("WH-SH", "east", "31.230400", "121.473700", 1),
    ("WH-GZ", "south", "23.129100", "113.264400", 2),
    ("WH-BJ", "north", "39.904200", "116.407400", 3),
]
PRODUCTS = [  # code, price, floor
    ("P1", 100, 80), ("P2", 50, 40), ("P3", 200, 150), ("P4", 10, 5),
]
STOCK = [  # warehouse, product, on hand
    ("WH-SH", "P1", 20), ("WH-SH", "P2", 20), ("WH-GZ", "P1", 20), ("WH-GZ", "P3", 20),
    ("WH-BJ", "P1", 20), ("WH-BJ", "P2", 20), ("WH-BJ", "P3", 20), ("WH-SH", "P4", 2),
]
ADDRESS = {"east": ("上海市", "上海", "31.2304", "121.4737"), "south": ("广东省", "广州", "23.1291", "113.2644"),
           "north": ("北京市", "北京", "39.9042", "116.4074")}


class Kit:
    def __init__(self, db_url: str) -> None:
        self.clock = Clock(fixed=T0)
        self.db_url = db_url
        self.app_ref = os.environ.get("ORDO_TEST_OMS_APP", "builtin:oms")
        # ORDO_TEST_OMS_APP: run these tests against a customised pack (an app that extends builtin:oms)
        self.app = open_app(self.app_ref, db_url, clock=self.clock)
        self.flows = self.app.features["flows"]
        self.seq = 0
        a = self.app
        a.create("channel", {"code": "TMALL", "channel_name": "Tmall", "payment_terms_hours": 24}, "admin")
        a.create("product_category", {"code": "GEN", "category_name": "General"}, "admin")
        for code, price, floor in PRODUCTS:
            a.create("product", {"code": code, "product_name": code, "category": "GEN", "price": price,
                                 "floor_price": floor}, "admin")
        for code, region, lat, lon, prio in WAREHOUSES:
            a.create("warehouse", {"code": code, "warehouse_name": code, "region": region, "latitude": lat,
                                   "longitude": lon, "priority": prio}, "admin")
        for wh, product, qty in STOCK:
            a.create("stock_level", {"warehouse": wh, "product": product, "on_hand": qty}, "admin")
        for code in ("C1", "C2", "C3"):
            a.create("customer", {"code": code, "customer_name": code, "phone": "1380000000" + code[-1]}, "admin")
        with a.transaction("admin") as tx:
            for user, group in (("rita", "review_east"), ("ray", "review_east"), ("sam", "review_south")):
                tx.users.grant(user, "reviewer")
                tx.users.grant(user, group, kind="group")

    def close(self) -> None:
        self.app.close()

    # -- helpers
    def order(self, lines: list[tuple[str, int] | tuple[str, int, Any]], *, region: str = "east",
              customer: str = "C1", user: str = "cathy", **extra: Any) -> dict[str, Any]:
        self.seq += 1
        province, city, lat, lon = ADDRESS[region]
        prices = {code: price for code, price, _ in PRODUCTS}
        data = {"channel": "TMALL", "external_order_id": f"T{self.seq:05d}", "customer": customer,
                "order_date": self.clock.now(), "ship_to_name": "Li Lei", "phone": f"1390000{self.seq:04d}",
                "ship_region": region, "ship_province": province, "ship_city": city,
                "ship_address": f"{self.seq} Nanjing Road", "ship_latitude": lat, "ship_longitude": lon,
                "payment_status": "paid",
                "lines": [{"product": ln[0], "quantity": ln[1],
                           "unit_price": ln[2] if len(ln) > 2 else prices[ln[0]]} for ln in lines]}
        data.update(extra)
        return self.app.create("sales_order", data, user)

    def get(self, entity: str, key: Any) -> dict[str, Any]:
        return self.app.get(entity, key, "admin")

    def advance(self, **delta: float) -> int:
        """Move the clock on and run the timers that became due."""
        self.clock.fixed = self.clock.now() + dt.timedelta(**delta)
        return self.app.jobs.run_due("worker", now=self.clock.fixed)

    def stock(self, wh: str, product: str) -> tuple[int, int]:
        rows = self.app.query("stock_level", "warehouse.code == :w and product.code == :p", user="admin",
                              params={"w": wh, "p": product})
        return rows[0]["on_hand"], rows[0]["reserved"]

    def shipments(self, order: dict[str, Any]) -> list[dict[str, Any]]:
        rows = self.app.query("shipment", "sales_order == :o", user="admin", params={"o": order["id"]},
                              order_by="id")
        return [self.get("shipment", r["id"]) for r in rows]

    def wh(self, record: dict[str, Any]) -> str:
        return self.get("warehouse", record["warehouse"])["code"]

    def allocations(self, order: dict[str, Any]) -> list[tuple[str | None, str, int, str]]:
        rows = self.app.query("stock_allocation", "sales_order == :o", user="admin", params={"o": order["id"]},
                              order_by="id")
        return [(self.wh(r) if r["warehouse"] else None, self.get("product", r["product"])["code"],
                 r["quantity"], r["status"]) for r in rows]

    def tasks(self, user: str) -> list[Any]:
        with self.app.reader(user) as tx:
            return self.flows.inbox(tx)

    def act(self, user: str, order: dict[str, Any], action: str = "approve", comment: str | None = None) -> None:
        task = next(t for t in self.tasks(user) if t.record_name == order["name"])
        with self.app.transaction(user) as tx:
            getattr(self.flows, action)(tx, task.id, comment=comment)

    def ship(self, shipment: dict[str, Any], user: str = "wang") -> None:
        self.app.update("shipment", shipment["id"], {"status": "shipped", "shipped_at": self.clock.now(),
                                                     "carrier": "sf", "tracking_no": f"SF{shipment['id']:08d}"},
                        user)

    def deliver(self, shipment: dict[str, Any], user: str = "wang") -> None:
        self.app.update("shipment", shipment["id"], {"status": "delivered", "delivered_at": self.clock.now()}, user)


def money(x: Any) -> Decimal:
    return Decimal(str(x))
