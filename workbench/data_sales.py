"""Sales over the exports (F20), by day, channel, payment method and product.

A mixin of :class:`workbench.data_access.ExportSource`. The definition is shared with the
core's ``GET /api/v1/reports/sales`` (``core_service.reports.service``) and written down in
``docs/exports.md`` ("Sales definitions"); the two must agree to the yen.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from core_service.reports.service import NO_METHOD, local_bounds

if TYPE_CHECKING:
    import duckdb

SALES_COLUMNS = ["day", "channel", "method", "product_id", "quantity", "amount"]


class SalesQueries:
    connection: duckdb.DuckDBPyConnection

    def timezone(self, facility_id: int) -> str:  # pragma: no cover - defined by ExportSource
        raise NotImplementedError

    # Orders are partitioned by created_at, which never changes, so every version of an
    # order is in one partition; the ids paid in the range are found on the log first and
    # only their versions are de-duplicated, instead of every order the facility ever had.
    _SALES = """
        WITH candidates AS (
            SELECT DISTINCT id FROM orders_log
            WHERE facility_id = $facility AND paid_at >= $start AND paid_at < $end
        ),
        o AS (
            SELECT o.* FROM orders_log AS o SEMI JOIN candidates AS c ON c.id = o.id
            WHERE o.facility_id = $facility
            QUALIFY row_number() OVER (PARTITION BY o.id ORDER BY o.updated_at DESC) = 1
        ),
        paid AS (
            SELECT * FROM o WHERE status = 'paid' AND paid_at >= $start AND paid_at < $end
        ),
        l AS (
            SELECT l.* FROM order_lines_log AS l SEMI JOIN paid AS p ON p.id = l.order_id
            WHERE l.facility_id = $facility
            QUALIFY row_number() OVER (PARTITION BY l.id ORDER BY l.updated_at DESC) = 1
        ),
        pay AS (
            SELECT order_id, arg_max(method, id) AS method FROM (
                SELECT y.* FROM payments_log AS y SEMI JOIN paid AS p ON p.id = y.order_id
                WHERE y.facility_id = $facility
                QUALIFY row_number() OVER (PARTITION BY y.id ORDER BY y.updated_at DESC) = 1
            ) WHERE state = 'paid' GROUP BY order_id
        )
        SELECT CAST(timezone($tz, paid.paid_at) AS DATE) AS day, paid.channel,
               coalesce(pay.method, $none) AS method, l.product_id,
               sum(l.quantity)::BIGINT AS quantity, sum(l.line_total)::BIGINT AS amount
        FROM paid JOIN l ON l.order_id = paid.id LEFT JOIN pay ON pay.order_id = paid.id
        GROUP BY ALL ORDER BY ALL
    """

    def sales_lines(self, facility_id: int, day_from: dt.date, day_to: dt.date) -> pd.DataFrame:
        """Quantity and amount (yen) per day, channel, method and product; ``SALES_COLUMNS``."""
        tz = self.timezone(facility_id)
        start, end = local_bounds(day_from, day_to, tz)
        frame = self.connection.execute(
            self._SALES,
            {"facility": facility_id, "start": start, "end": end, "tz": tz, "none": NO_METHOD},
        ).df()
        if frame.empty:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in SALES_COLUMNS})
        frame["day"] = pd.to_datetime(frame["day"]).dt.date
        return frame[SALES_COLUMNS]

    def product_names(self, facility_id: int) -> pd.DataFrame:
        """id, code, name_ja, name_en of the facility's products."""
        return self.connection.execute(
            "SELECT id, code, name_ja, name_en FROM products WHERE facility_id = ? ORDER BY id",
            [facility_id],
        ).df()
