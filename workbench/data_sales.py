"""Sales over the exports (F20), by day, channel, payment method and product.

A mixin of :class:`workbench.data_access.ExportSource`. The definition is shared with the
core's ``GET /api/v1/reports/sales`` (``core_service.reports.service``) and written down in
``docs/exports.md`` ("Sales definitions"); the two must agree to the yen.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from kippu_contract.facility_time import local_bounds
from kippu_contract.v1.staff import NO_PAYMENT_METHOD

if TYPE_CHECKING:
    import duckdb

SALES_COLUMNS = ["day", "channel", "method", "product_id", "quantity", "amount"]


class SalesQueries:
    connection: duckdb.DuckDBPyConnection

    def timezone(self, facility_id: int) -> str:  # pragma: no cover - defined by ExportSource
        raise NotImplementedError

    def _want_tables(self, *names: str) -> None:  # pragma: no cover - defined by ExportSource
        raise NotImplementedError

    def _want_sales_lines(self) -> None:  # pragma: no cover - defined by ExportSource
        raise NotImplementedError

    # Paid orders' lines with their method are kept joined (see sales_cache); a range is a
    # filter on paid_at and a sum.
    _SALES = """
        SELECT CAST(timezone($tz, paid_at) AS DATE) AS day, channel,
               coalesce(method, $none) AS method, product_id,
               sum(quantity)::BIGINT AS quantity, sum(line_total)::BIGINT AS amount
        FROM _sales_lines
        WHERE facility_id = $facility AND paid_at >= $start AND paid_at < $end
        GROUP BY ALL ORDER BY ALL
    """

    def sales_lines(self, facility_id: int, day_from: dt.date, day_to: dt.date) -> pd.DataFrame:
        """Quantity and amount (yen) per day, channel, method and product; ``SALES_COLUMNS``."""
        self._want_sales_lines()
        tz = self.timezone(facility_id)
        start, end = local_bounds(day_from, day_to, tz)
        frame = self.connection.execute(
            self._SALES,
            {
                "facility": facility_id,
                "start": start,
                "end": end,
                "tz": tz,
                "none": NO_PAYMENT_METHOD,
            },
        ).df()
        if frame.empty:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in SALES_COLUMNS})
        frame["day"] = pd.to_datetime(frame["day"]).dt.date
        return frame[SALES_COLUMNS]

    def product_names(self, facility_id: int) -> pd.DataFrame:
        """id, code, name_ja, name_en of the facility's products."""
        self._want_tables("products")
        return self.connection.execute(
            "SELECT id, code, name_ja, name_en FROM products WHERE facility_id = ? ORDER BY id",
            [facility_id],
        ).df()
