"""Attendance breakdowns over the exports (F23): in the park now, by gate and by product.

A mixin of :class:`workbench.data_access.ExportSource`; the definitions are in
``docs/exports.md`` ("Attendance definitions").
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from core_service.models.catalog import ADMISSION_KINDS

if TYPE_CHECKING:
    import duckdb


class LiveQueries:
    connection: duckdb.DuckDBPyConnection
    _FIRST_ENTRIES: str

    def in_park(self, facility_id: int, day: dt.date) -> int:
        """Admitted entries minus exits of admission tickets that day (never below zero).

        Where a facility scans no exits this equals the entries, which is the most the
        gates can know.
        """
        row = self.connection.execute(
            """
            WITH scans AS (
                SELECT ticket_id, direction FROM checkins_log
                WHERE facility_id = $facility AND date = $day AND result = 'admitted'
                  AND direction IN ('entry', 'exit')
            ),
            facility_tickets AS (
                SELECT id, product_kind FROM tickets_log
                WHERE facility_id = $facility AND id IN (SELECT ticket_id FROM scans)
                QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1
            )
            SELECT count(*) FILTER (WHERE c.direction = 'entry')
                 - count(*) FILTER (WHERE c.direction = 'exit')
            FROM scans AS c JOIN facility_tickets AS t ON t.id = c.ticket_id
            WHERE list_contains($kinds, t.product_kind)
            """,
            {"facility": facility_id, "day": day, "kinds": list(ADMISSION_KINDS)},
        ).fetchone()
        return max(int(row[0] or 0), 0) if row else 0

    def admissions_by(self, facility_id: int, day: dt.date, what: str) -> pd.DataFrame:
        """Visitors admitted that day by ``what`` ("gate" or "product") of their first entry.

        Columns: ``key`` (gate name or product code), ``label_ja``, ``label_en``, ``admissions``.
        """
        if what not in ("gate", "product"):
            raise ValueError(what)
        params = {"facility": facility_id, "day": day, "kinds": list(ADMISSION_KINDS)}
        if what == "gate":
            sql = f"""
                WITH firsts AS ({self._FIRST_ENTRIES}),
                gates AS (
                    SELECT c.ticket_id, arg_min(coalesce(c.gate_name, '-'), c.scanned_at) AS key
                    FROM checkins_log AS c JOIN firsts AS f ON f.ticket_id = c.ticket_id
                    WHERE c.facility_id = $facility AND c.date = $day AND c.direction = 'entry'
                      AND c.result = 'admitted'
                    GROUP BY c.ticket_id
                )
                SELECT key, key AS label_ja, key AS label_en, count(*)::BIGINT AS admissions
                FROM gates GROUP BY key ORDER BY admissions DESC, key
            """
        else:
            sql = f"""
                WITH firsts AS ({self._FIRST_ENTRIES}),
                t AS (
                    SELECT id, product_id, product_code FROM tickets_log
                    WHERE facility_id = $facility AND id IN (SELECT ticket_id FROM firsts)
                    QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1
                )
                SELECT t.product_code AS key,
                       coalesce(any_value(p.name_ja), t.product_code) AS label_ja,
                       coalesce(any_value(p.name_en), t.product_code) AS label_en,
                       count(*)::BIGINT AS admissions
                FROM firsts AS f JOIN t ON t.id = f.ticket_id
                LEFT JOIN products AS p ON p.id = t.product_id
                GROUP BY t.product_code ORDER BY admissions DESC, key
            """
        return self.connection.execute(sql, params).df()
