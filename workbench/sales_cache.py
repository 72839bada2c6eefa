"""Order lines of paid orders, ready to sum, kept current as orders, lines and payments arrive.

Sales figures (``data_sales``, the definition in ``docs/exports.md``) join each paid order
with its lines and its paid payment's method. Everything but the date range depends on one
order alone, so :class:`SalesLines` keeps that join in ``_sales_lines`` (one row per line
of a paid order, sorted by ``paid_at`` so that a date range reads few blocks), and a sales
query is a filter and a sum. After a sync, only the orders it touched are joined again:
an order, a line or a payment replaced or added names its order (old and new version).
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from workbench.export_cache import Delta

TABLE = "_sales_lines"

# The newest versions of the orders in {orders}: lines of paid orders, each with the method
# of the order's paid payment (the one with the highest id, should there be several).
_JOIN = """
    SELECT o.facility_id, o.id AS order_id, o.paid_at, o.channel, pay.method,
           l.product_id, l.quantity, l.line_total
    FROM _mem_orders AS o
    JOIN _mem_order_lines AS l ON l.order_id = o.id AND l.facility_id = o.facility_id
    LEFT JOIN (
        SELECT facility_id, order_id, arg_max(method, id) AS method FROM _mem_payments
        WHERE state = 'paid' AND order_id IN ({orders})
        GROUP BY facility_id, order_id
    ) AS pay ON pay.order_id = o.id AND pay.facility_id = o.facility_id
    WHERE o.status = 'paid' AND o.paid_at IS NOT NULL AND o.id IN ({orders})
      AND l.order_id IN ({orders})
"""


class SalesLines:
    """``_sales_lines`` for every facility, once :meth:`build` has run."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        connection.execute(
            f"CREATE OR REPLACE TABLE {TABLE} (facility_id BIGINT, order_id BIGINT, "
            "paid_at TIMESTAMPTZ, channel VARCHAR, method VARCHAR, product_id BIGINT, "
            "quantity INTEGER, line_total BIGINT)"
        )
        self.built = False

    def build(self) -> None:
        """Join every order (orders, lines and payments must be loaded); then :meth:`commit`."""
        con = self.connection
        con.execute(f"DELETE FROM {TABLE}")
        con.execute(
            f"INSERT INTO {TABLE} {_JOIN.format(orders='SELECT id FROM _mem_orders')} "
            "ORDER BY o.paid_at"
        )

    def commit(self) -> None:
        self.built = True

    def forget_facility(self, facility_id: int) -> None:
        """Delete the facility's lines (call in a transaction; nothing else to forget)."""
        self.connection.execute(f"DELETE FROM {TABLE} WHERE facility_id = $f", {"f": facility_id})

    def update(self, deltas: Mapping[str, Delta]) -> None:
        """Join again the orders a sync touched; call in the sync's transaction."""
        if not self.built:
            return
        parts = []
        for table, column in (
            ("orders", "id"),
            ("order_lines", "order_id"),
            ("payments", "order_id"),
        ):
            delta = deltas.get(table, Delta())
            parts += [f"SELECT {column} FROM {name}" for name in (delta.old, delta.new) if name]
        if not parts:
            return
        con = self.connection
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _sale_orders AS SELECT DISTINCT * FROM ("
            + " UNION ALL ".join(parts)
            + ")"
        )
        con.execute(f"DELETE FROM {TABLE} WHERE order_id IN (SELECT * FROM _sale_orders)")
        con.execute(f"INSERT INTO {TABLE} {_JOIN.format(orders='SELECT * FROM _sale_orders')}")
        con.execute("DROP TABLE _sale_orders")
