"""A small app for the API tests: customers, products, orders with lines, an approval flow, a report and an
intake; ``sales`` users see only their own orders and the customers of their region (row rules),
``manager`` users see everything."""

from __future__ import annotations

from typing import Any

from .api_kit import add_user, token_for

SHOP = {
    "entities/customer.yaml": """
        name: customer
        label: {en: Customer, zh: 客户}
        naming: "{code}"
        title_field: customer_name
        fields:
          code: {type: string, required: true, unique: true}
          customer_name: {type: string, label: {en: Customer name, zh: 客户名称}}
          region:
            type: enum
            label: {en: Region, zh: 区域}
            options:
              - {value: north, label: {en: North, zh: 北区}}
              - {value: south, label: {en: South, zh: 南区}}
    """,
    "entities/product.yaml": """
        name: product
        naming: "{sku}"
        title_field: title
        fields:
          sku: {type: string, required: true, unique: true}
          title: {type: string}
          price: {type: money, min: 0}
          cost: {type: money, min: 0}
    """,
    "entities/order_line.yaml": """
        name: order_line
        child: true
        fields:
          product: {type: link, entity: product, required: true}
          qty: {type: integer, required: true, min: 1, label: {en: Quantity, zh: 数量}}
          price: {type: money, required: true}
          amount: {type: computed, expr: "qty * price"}
    """,
    "entities/order.yaml": """
        name: order
        label: {en: Order, zh: 订单}
        naming: "SO-{#####}"
        title_field: subject
        fields:
          subject: {type: string, max_length: 80}
          customer: {type: link, entity: customer, label: {en: Customer, zh: 客户}}
          owner: {type: string}
          external_id: {type: string}
          status:
            type: enum
            default: draft
            options:
              - {value: draft, label: {en: Draft, zh: 草稿}}
              - {value: submitted, label: {en: Submitted, zh: 已提交}}
              - {value: approved, label: {en: Approved, zh: 已批准}}
              - {value: rejected, label: {en: Rejected, zh: 已拒绝}}
          total: {type: money, min: 0}
          placed: {type: date}
          rush: {type: boolean, default: false}
          lines: {type: table, entity: order_line}
          line_total: {type: computed, expr: "sum(lines, amount)"}
        indexes:
          - {fields: [external_id], unique: true}
    """,
    "forms/order.yaml": """
        name: order_form
        entity: order
        title: {en: Order, zh: 订单}
        sections:
          - {title: {en: Main, zh: 基本信息}, fields: [customer, total, status]}
          - {fields: [lines]}
    """,
    "roles.yaml": """
        roles:
          sales:
            label: {en: Sales, zh: 销售}
            permissions:
              - {entity: order, where: "owner == user.name"}
              - {entity: customer, actions: [read], where: "region == user.region"}
              - {entity: product, actions: [read, update], hidden: [cost], read_only: [price]}
              - {flow: order_approval, actions: [start, withdraw]}
              - {report: orders_by_status}
          manager:
            label: {en: Manager, zh: 经理}
            permissions:
              - {entity: order}
              - {entity: customer}
              - {entity: product}
              - {flow: order_approval}
              - {report: orders_by_status}
    """,
    "flows/order_approval.yaml": """
        name: order_approval
        label: {en: Order approval, zh: 订单审批}
        entity: order
        trigger: {on: create_or_update, when: "status == 'submitted'"}
        nodes:
          review:
            label: {en: Manager review, zh: 经理审核}
            type: approval
            approvers: [{role: manager}]
            next: done
          done: {type: end, outcome: approved}
    """,
    "reports/orders.yaml": """
        name: orders_by_status
        label: {en: Orders by status, zh: 订单状态}
        source: order
        params:
          min_total: {type: decimal, default: 0}
        filters: ["coalesce(total, 0) >= :min_total"]
        dimensions: [status]
        measures:
          - {name: orders, agg: count, label: {en: Orders, zh: 订单数}}
          - {name: revenue, agg: sum, expr: total, format: money, label: {en: Revenue, zh: 销售额}}
        sort: [status]
        totals: true
    """,
    "intake/orders.yaml": """
        name: orders
        entity: order
        key: [external_id]
        shapes:
          shop_json:
            format: json
            fields:
              external_id: id
              subject: subject
              customer: customer
              total: total
              owner: owner
            tables:
              lines:
                rows: items
                fields: {product: sku, qty: qty, price: price}
          shop_csv:
            format: csv
            group_by: Order
            fields:
              external_id: Order
              subject: Subject
              owner: Owner
            tables:
              lines:
                fields: {product: Sku, qty: Qty, price: Price}
    """,
}


def seed(app: Any) -> dict[str, str]:
    """Users (ann and bob in sales, max a manager, root an admin) with their tokens, and master data."""
    add_user(app, "ann", ("sales",), region="north")
    add_user(app, "bob", ("sales",), region="south")
    add_user(app, "max", ("manager",))
    add_user(app, "root", ("admin",))
    app.create("customer", {"code": "C1", "customer_name": "Acme", "region": "north"}, "root")
    app.create("customer", {"code": "C2", "customer_name": "Globex", "region": "south"}, "root")
    app.create("product", {"sku": "P1", "title": "Mug", "price": "12.50", "cost": "4.00"}, "root")
    app.create("product", {"sku": "P2", "title": "Plate", "price": "8", "cost": "6.00"}, "root")
    return {u: token_for(app, u) for u in ("ann", "bob", "max", "root")}


def order_body(owner: str = "ann", customer: str = "C1", **extra: Any) -> dict[str, Any]:
    return {"subject": "Mugs", "customer": customer, "owner": owner, "total": "37.50",
            "lines": [{"product": "P1", "qty": 3, "price": "12.50"}, {"product": "P2", "qty": 1, "price": 8},
                      {"product": "P1", "qty": 1, "price": "0.10"}], **extra}
