"""App definitions shared by the allocation tests and the benchmark."""

from __future__ import annotations

ENTITIES = {
    "entities/site.yaml": """
        name: site
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          region: {type: string}
          priority: {type: integer, default: 10}
          lat: {type: decimal, scale: 6}
          lon: {type: decimal, scale: 6}
          active: {type: boolean, default: true}
    """,
    "entities/product.yaml": """
        name: product
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
    """,
    "entities/stock.yaml": """
        name: stock
        fields:
          site: {type: link, entity: site, required: true}
          product: {type: link, entity: product, required: true}
          on_hand: {type: integer, default: 0}
          reserved: {type: integer, default: 0}
          safety: {type: integer, default: 0}
          cost: {type: decimal, scale: 2, default: 0}
          free: {type: computed, expr: "on_hand - reserved"}
        indexes:
          - [product]
    """,
    "entities/order.yaml": """
        name: order
        fields:
          region: {type: string}
          lat: {type: decimal, scale: 6}
          lon: {type: decimal, scale: 6}
          status: {type: enum, options: [open, cancelled, done], default: open}
          lines: {type: table, entity: order_line}
        ---
        name: order_line
        child: true
        fields:
          product: {type: link, entity: product, required: true}
          qty: {type: integer, required: true, min: 1}
    """,
    "entities/allocation.yaml": """
        name: allocation
        fields:
          order: {type: link, entity: order, required: true, on_delete: cascade}
          stock: {type: link, entity: stock}
          line: {type: integer}
          product: {type: link, entity: product}
          site: {type: link, entity: site}
          qty: {type: integer, required: true}
          status: {type: enum, options: [reserved, released, consumed, backorder]}
    """,
}


def rule(strategy: str = "fewest_splits", *, partial: bool = False, split: bool = False,
         where: str | None = "site.active", rank: str | None = None, name: str = "fulfil") -> str:
    rank = rank or """
          - site.priority
          - {expr: "distance(site.lat, site.lon, demand.lat, demand.lon)", label: km}
    """
    where_line = f"where: {where!r}" if where else ""
    return f"""
        kind: allocation
        name: {name}
        demand: {{entity: order, lines: lines, item: product, quantity: qty}}
        supply:
          entity: stock
          item: product
          location: site
          available: "on_hand - reserved - safety"
          reserved: reserved
          on_hand: on_hand
        {where_line}
        rank:{rank}
        strategy: {strategy}
        partial: {str(partial).lower()}
        split_lines: {str(split).lower()}
        result:
          entity: allocation
          demand: order
          supply: stock
          quantity: qty
          status: status
          line: line
          item: product
          location: site
    """


def app_files(**kwargs) -> dict[str, str]:
    return {**ENTITIES, "rules/fulfil.yaml": rule(**kwargs)}
