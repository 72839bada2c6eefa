"""Mailing segments over the exports (F24): which customers match, by pseudonymous key.

A mixin of :class:`workbench.data_access.ExportSource`. A :class:`Segment` describes the
conditions; :meth:`SegmentQueries.segment_keys` returns the matching ``customer_key``s,
which are all the workbench ever hands to the core. The core re-checks consent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True, slots=True)
class Segment:
    """Conditions on a customer's orders; None means "any". All conditions must hold."""

    #: True: everyone with a key (order conditions are ignored).
    everyone: bool = False
    #: Only orders whose purchase completed (status paid).
    purchase_completed: bool = True
    #: Purchase moment (order created_at, UTC-aware) in [purchased_from, purchased_to).
    purchased_from: dt.datetime | None = None
    purchased_to: dt.datetime | None = None
    visit_date: dt.date | None = None
    product_id: int | None = None
    channel: str | None = None
    #: True: a ticket of the order was admitted at a gate; False: none was.
    checked_in: bool | None = None
    #: Holders of an annual pass valid on ``pass_valid_on`` (default: no condition).
    annual_pass: bool = False
    pass_valid_on: dt.date | None = None
    #: Marketing mail: only customers who opted in (the core checks again).
    marketing_only: bool = True

    def describe(self) -> dict[str, Any]:
        """JSON-able form, stored with the campaign for the record."""
        return {
            k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(self).items()
        }


class SegmentQueries:
    connection: duckdb.DuckDBPyConnection

    def _segment_sql(self, facility_id: int, s: Segment) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"facility": facility_id}
        where = ["c.customer_key IS NOT NULL"]
        if s.marketing_only:
            where.append("c.marketing_opt_in")
        if not s.everyone:
            conds = ["o.customer_key IS NOT NULL"]
            if s.purchase_completed:
                conds.append("o.status = 'paid'")
            if s.purchased_from is not None:
                conds.append("o.created_at >= $pfrom")
                params["pfrom"] = s.purchased_from
            if s.purchased_to is not None:
                conds.append("o.created_at < $pto")
                params["pto"] = s.purchased_to
            if s.channel:
                conds.append("o.channel = $channel")
                params["channel"] = s.channel
            line_conds = []
            if s.visit_date is not None:
                line_conds.append("l.visit_date = $visit")
                params["visit"] = s.visit_date
            if s.product_id is not None:
                line_conds.append("l.product_id = $product")
                params["product"] = s.product_id
            if line_conds:
                conds.append(
                    "EXISTS (SELECT 1 FROM lines AS l WHERE l.order_id = o.id AND "
                    + " AND ".join(line_conds)
                    + ")"
                )
            if s.checked_in is not None:
                conds.append(
                    ("" if s.checked_in else "NOT ")
                    + "o.id IN (SELECT order_id FROM admitted_orders)"
                )
            if s.annual_pass:
                params["passday"] = s.pass_valid_on or dt.date.today()
                conds.append(
                    "EXISTS (SELECT 1 FROM tix AS t WHERE t.order_id = o.id AND "
                    "t.product_kind = 'annual_pass' AND t.status <> 'cancelled' AND "
                    "t.valid_from <= $passday AND t.valid_until >= $passday)"
                )
            where.append(
                "c.customer_key IN (SELECT o.customer_key FROM ords AS o WHERE "
                + " AND ".join(conds)
                + ")"
            )
        sql = f"""
            WITH c AS (
                SELECT * FROM customers_log WHERE facility_id = $facility
                QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1
            ),
            ords AS (
                SELECT * FROM orders_log WHERE facility_id = $facility
                QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1
            ),
            lines AS (
                SELECT * FROM order_lines_log WHERE facility_id = $facility
                QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1
            ),
            tix AS (
                SELECT * FROM tickets_log WHERE facility_id = $facility
                QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1
            ),
            admitted_orders AS (
                SELECT DISTINCT t.order_id
                FROM checkins_log AS k JOIN tix AS t ON t.id = k.ticket_id
                WHERE k.facility_id = $facility AND k.result = 'admitted' AND k.direction = 'entry'
            )
            SELECT DISTINCT c.customer_key FROM c WHERE {" AND ".join(where)}
        """
        return sql, params

    def segment_keys(self, facility_id: int, segment: Segment) -> list[str]:
        """Every matching customer's pseudonymous key, sorted."""
        sql, params = self._segment_sql(facility_id, segment)
        rows = self.connection.execute(f"SELECT * FROM ({sql}) ORDER BY 1", params).fetchall()
        return [r[0] for r in rows]

    def segment_count(self, facility_id: int, segment: Segment) -> int:
        sql, params = self._segment_sql(facility_id, segment)
        row = self.connection.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()
        return int(row[0]) if row else 0

    def segment_sample(self, facility_id: int, segment: Segment, n: int = 10) -> list[str]:
        """A few matching keys (pseudonyms only), for the manager to sanity-check."""
        sql, params = self._segment_sql(facility_id, segment)
        rows = self.connection.execute(
            f"SELECT * FROM ({sql}) ORDER BY hash(customer_key) LIMIT {int(n)}", params
        ).fetchall()
        return [r[0] for r in rows]
