"""A small base app and overlays of it (tests of customer overlays)."""

from __future__ import annotations

BASE = {
    "app.yaml": "name: base\nversion: 1.0.0\nlanguages: [en, zh]\n",
    "entities/order.yaml": """
        name: order
        label: {en: Order, zh: 订单}
        fields:
          code: {type: string, required: true, label: {en: Code, zh: 编号}}
          status:
            type: enum
            default: new
            options:
              - {value: new, label: {en: New, zh: 新建}}
              - {value: done, label: {en: Done, zh: 完成}}
          amount: {type: money, min: 0, default: 0}
          note: {type: text}
          big: {type: computed, expr: "amount > 1000"}
    """,
    "flows/approve.yaml": """
        name: approve
        entity: order
        trigger: {on: create}
        nodes:
          check:
            type: approval
            approvers: [{role: boss}]
            next: finish
          finish:
            type: action
            set: {status: "'done'"}
            next: done
          done: {type: end, outcome: done}
    """,
    "forms/order.yaml": """
        name: order
        entity: order
        sections:
          - title: {en: Main}
            fields: [code, status]
          - title: {en: Money}
            fields: [amount]
    """,
    "reports/orders.yaml": """
        name: orders_by_status
        source: order
        dimensions: [status]
        measures:
          - {name: orders, agg: count, label: {en: Orders}}
          - {name: amount, agg: sum, expr: amount}
    """,
    "roles.yaml": """
        roles:
          admin: {users: [admin]}
          boss:
            users: [bob]
            permissions:
              - {entity: order, actions: [read, update]}
          clerk:
            permissions:
              - {entity: order, actions: [read, create]}
    """,
}


def overlay(files: dict[str, str], extends: str = "../base", name: str = "cust") -> dict[str, str]:
    return {"app.yaml": f"name: {name}\nversion: 1\nextends: {extends}\nlanguages: [en, zh]\n", **files}
