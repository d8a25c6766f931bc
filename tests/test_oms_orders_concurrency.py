"""OMS orders on PostgreSQL with concurrent workers: the last units of a product go to exactly as many
orders as there is stock, the rest are backordered, and every timer fires once."""

from __future__ import annotations

import threading

from ordo.engine import open_app

from .oms_orders_kit import Kit


def test_concurrent_workers_allocate_the_last_units_once(pg_url):
    kit = Kit(pg_url)
    try:
        orders = [kit.order([("P4", 1)], region=("east", "south", "north")[i % 3]) for i in range(8)]
        kit.clock.fixed = kit.clock.now().replace(minute=31)  # past every merge window
        apps = [open_app(kit.app_ref, pg_url, clock=kit.clock) for _ in range(4)]
        ran: list[int] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(apps))

        def work(i: int) -> None:
            try:
                barrier.wait()
                ran.append(apps[i].jobs.run_due(f"w{i}", now=kit.clock.fixed))
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(apps))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for a in apps:
            a.close()
        assert not errors, errors
        assert sum(ran) == len(orders)  # one merge-window timer per order, each fired once
        statuses = [kit.get("sales_order", o["id"])["status"] for o in orders]
        assert statuses.count("allocated") == 2 and statuses.count("backordered") == 6
        assert kit.stock("WH-SH", "P4") == (2, 2)
        assert len(kit.app.query("shipment", user="admin")) == 2
    finally:
        kit.close()
