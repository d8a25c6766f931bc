"""The distance() function: same result in Python and in SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from ordo.dsl.errors import ExpressionErrors
from ordo.dsl.expr import Scope, compile_expression
from ordo.engine import open_app
from ordo.engine.query import TableSource

APP = {
    "entities/place.yaml": """
        name: place
        fields:
          lat: {type: decimal, scale: 6}
          lon: {type: decimal, scale: 6}
    """,
}
PLACES = [("48.8566", "2.3522"), ("51.5074", "-0.1278"), ("-33.8688", "151.2093"), ("0", "0"), (None, "1")]


def test_distance_python_and_sql_agree(make_app, db_url):
    app = open_app(make_app(APP), db_url)
    for lat, lon in PLACES:
        app.create("place", {"lat": lat, "lon": lon}, "admin")
    expr = compile_expression("distance(lat, lon, 48.8566, 2.3522)", Scope(app.definition.schema, "place"))
    table = app.compiled.entity("place").table
    sql = expr.to_sql(TableSource(app.compiled, "place", table))
    with app.engine.connect() as conn:
        from_sql = {r.id: r.d for r in conn.execute(sa.select(table.c.id, sql.label("d")).order_by(table.c.id))}
    for rec in app.query("place", user="admin"):
        py = expr(rec)
        if rec["lat"] is None:
            assert py is None and from_sql[rec["id"]] is None
        else:
            assert abs(py - Decimal(str(from_sql[rec["id"]]))) <= Decimal("0.001")
    assert expr(app.query("place", user="admin")[1]) == Decimal("343.557")  # Paris - London
    assert expr(app.query("place", user="admin")[0]) == 0
    app.close()


def test_distance_needs_four_numbers(make_app, db_url):
    app = open_app(make_app(APP), db_url)
    with pytest.raises(ExpressionErrors, match="takes 4 argument"):
        compile_expression("distance(lat, lon, 1)", Scope(app.definition.schema, "place"))
    with pytest.raises(ExpressionErrors, match="argument 3 must be integer or decimal"):
        compile_expression("distance(lat, lon, 'x', 1)", Scope(app.definition.schema, "place"))
    app.close()
