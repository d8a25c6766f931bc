"""Small app definitions reused by several tests."""

SHOP = {
    "entities/customer.yaml": """
        name: customer
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true, pattern: "[A-Z0-9]+"}
          level: {type: enum, options: [normal, vip], default: normal}
          region: {type: string}
          credit_limit: {type: money, min: 0, default: 1000}
    """,
    "entities/product.yaml": """
        name: product
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          price: {type: money, required: true, min: 0}
    """,
    "entities/order.yaml": """
        name: order
        naming: "SO-{YYYY}-{#####}"
        fields:
          customer: {type: link, entity: customer, required: true}
          status: {type: enum, options: [new, paid, cancelled], default: new}
          order_date: {type: date, default: "=today()"}
          note: {type: text, max_length: 200}
          lines: {type: table, entity: line, required: true}
          total: {type: computed, expr: "sum(lines, amount)"}
          vip: {type: computed, expr: "customer.level == 'vip'"}
        validations:
          - expr: "total <= customer.credit_limit"
            message: over the credit limit
        ---
        name: line
        child: true
        fields:
          product: {type: link, entity: product, required: true}
          qty: {type: integer, required: true, min: 1}
          price: {type: money, required: true, min: 0}
          amount: {type: computed, expr: "qty * price"}
    """,
}
