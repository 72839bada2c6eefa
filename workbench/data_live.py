"""Attendance breakdowns over the exports (F23): in the park now, by gate and by product.

A mixin of :class:`workbench.data_access.ExportSource`; the definitions are in
``docs/exports.md`` ("Attendance definitions").
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import duckdb


class LiveQueries:
    connection: duckdb.DuckDBPyConnection

    def _day_entries(
        self, facility_id: int, day: dt.date
    ) -> str:  # pragma: no cover - ExportSource
        raise NotImplementedError

    def in_park(self, facility_id: int, day: dt.date) -> int:
        """Admitted entries minus exits of admission tickets that day (never below zero).

        Where a facility scans no exits this equals the entries, which is the most the
        gates can know.
        """
        (balance,) = self.connection.execute(
            f"SELECT sum(entries) - sum(exits) FROM {self._day_entries(facility_id, day)}"
        ).fetchall()[0]
        return max(int(balance or 0), 0)

    def admissions_by(self, facility_id: int, day: dt.date, what: str) -> pd.DataFrame:
        """Visitors admitted that day by ``what`` ("gate" or "product") of their first entry.

        Columns: ``key`` (gate name or product code), ``label_ja``, ``label_en``, ``admissions``.
        """
        if what not in ("gate", "product"):
            raise ValueError(what)
        entries = self._day_entries(facility_id, day)
        if what == "gate":
            sql = f"""
                SELECT first_gate AS key, first_gate AS label_ja, first_gate AS label_en,
                       count(*)::BIGINT AS admissions
                FROM {entries} WHERE first_entry_at IS NOT NULL
                GROUP BY first_gate ORDER BY admissions DESC, key
            """
        else:
            sql = f"""
                SELECT e.product_code AS key,
                       coalesce(any_value(p.name_ja), e.product_code) AS label_ja,
                       coalesce(any_value(p.name_en), e.product_code) AS label_en,
                       count(*)::BIGINT AS admissions
                FROM {entries} AS e LEFT JOIN products AS p ON p.id = e.product_id
                WHERE e.first_entry_at IS NOT NULL
                GROUP BY e.product_code ORDER BY admissions DESC, key
            """
        return self.connection.execute(sql).df()
