"""Embed the Ordo engine in your own Python service: open the OMS pack and drive one order.

    python examples/embed_oms.py [--db sqlite:///embed-oms.db]

The order arrives through the marketplace channel intake, is screened and auto-approved by
its lifecycle flow, waits out the merge window, is allocated to the nearest warehouse with
stock (a reservation), ships (stock consumed, invoice created) and is delivered. The clock
is injected so the example runs in a second; in a service, `ordo worker` runs the timers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile

from ordo.dsl.expr import Clock
from ordo.engine import open_app

T0 = dt.datetime(2026, 3, 2, 9, 0)

ORDER = {
    "order_id": "EMBED-0001", "created_at": "2026-03-02T17:00:00+08:00", "currency": "CNY",
    "buyer": {"id": "lily88", "name": "李丽", "phone": "13800138000", "email": "lily88@example.com"},
    "shipping_address": {"name": "李丽", "phone": "13800138000", "province": "上海市", "city": "上海市",
                         "district": "静安区", "street": "南京西路 1266 号", "postcode": "200040",
                         "geo": {"lat": 31.2304, "lng": 121.4737}},
    "amounts": {"shipping": "0.00", "discount": "0.00", "paid": "338.00"},
    "payment": {"status": "PAID", "paid_at": "2026-03-02T17:01:00+08:00"},
    "items": [{"line_id": "EMBED-0001-1", "sku": "MUG-01", "qty": 2, "unit_price": "59.00", "discount": "0.00"},
              {"line_id": "EMBED-0001-2", "sku": "LAMP-01", "qty": 1, "unit_price": "220.00", "discount": "0.00"}],
    "remark": "",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=f"sqlite:///{tempfile.mkdtemp()}/embed-oms.db")
    args = parser.parse_args()

    clock = Clock(fixed=T0)
    app = open_app("builtin:oms", args.db, clock=clock)  # validates the pack, syncs the schema
    flows, intake = app.features["flows"], app.features["intake"]

    # Reference data (a real service loads it once, e.g. with `ordo import` or its own API).
    with app.transaction("admin") as tx:
        tx.create("channel", {"code": "TMALL", "channel_name": "Tmall", "channel_type": "marketplace",
                              "intake_shape": "marketplace_json", "payment_terms_hours": 24})
        tx.create("product_category", {"code": "HOME", "category_name": "Home"})
        for code, price in (("MUG-01", 59), ("LAMP-01", 220)):
            tx.create("product", {"code": code, "product_name": code, "category": "HOME", "price": price,
                                  "floor_price": price * 0.7})
        for code, region, lat, lon, prio in (("SH01", "east", 31.37, 121.27, 1), ("BJ01", "north", 39.73, 116.34, 2)):
            tx.create("warehouse", {"code": code, "warehouse_name": code, "region": region, "latitude": lat,
                                    "longitude": lon, "priority": prio})
            for product in ("MUG-01", "LAMP-01"):
                tx.create("stock_level", {"warehouse": code, "product": product, "on_hand": 10})
        tx.users.grant("shop-api", "customer_service")
        tx.users.grant("wang", "warehouse")

    # 1. The channel delivers the order (twice: the second delivery is a duplicate and changes nothing).
    for _ in range(2):
        result = intake.import_payload("shop-api", "orders", json.dumps({"orders": [ORDER]}), channel="TMALL",
                                       source="webhook.json")
        print("intake:", result.summary())
    order = app.query("sales_order", "external_order_id == 'EMBED-0001'", user="admin")[0]
    print(f"order {order['name']}: status {order['status']}, total {order['total']}")

    # 2. Timers: the merge window passes, the worker allocates and creates shipments.
    clock.fixed = T0 + dt.timedelta(hours=1)
    app.run_worker_once("embedded")
    order = app.get("sales_order", order["id"], "admin")
    shipments = app.query("shipment", "sales_order == :o", user="admin", params={"o": order["id"]})
    print(f"after the worker: status {order['status']}, {len(shipments)} shipment(s)")

    # 3. The warehouse ships and the carrier delivers (each is an ordinary record update).
    for s in shipments:
        app.update("shipment", s["id"], {"status": "shipped", "shipped_at": clock.now(), "carrier": "sf",
                                         "tracking_no": f"SF{s['id']:08d}"}, "wang")
        clock.fixed += dt.timedelta(days=1)
        app.update("shipment", s["id"], {"status": "delivered", "delivered_at": clock.now()}, "wang")
    app.run_worker_once("embedded")
    order = app.get("sales_order", order["id"], "admin")
    invoices = app.query("invoice", "sales_order == :o", user="admin", params={"o": order["id"]})
    print(f"after delivery: status {order['status']}, invoice(s): {[i['name'] for i in invoices]}")

    # 4. What happened, as the flow recorded it.
    with app.reader("admin") as tx:
        for event in flows.timeline(tx, "sales_order", order["id"]):
            print(f"  {event.at:%m-%d %H:%M}  {event.user:<8} {event.action:<10} {event.node or ''}")
    app.close()


if __name__ == "__main__":
    main()
