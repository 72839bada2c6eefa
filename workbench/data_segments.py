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

    def generation(self, facility_id: int) -> tuple[int, int]:  # pragma: no cover - ExportSource
        """See ExportSource: changes whenever the facility's memory rows change."""
        raise NotImplementedError

    #: What _segment_keys holds: (query, parameters, generation), or None.
    _segment_memo: tuple[Any, ...] | None = None

    def _want_tables(self, *names: str) -> None:  # pragma: no cover - defined by ExportSource
        raise NotImplementedError

    def _want_admitted_orders(self, facility_id: int) -> None:  # pragma: no cover - ExportSource
        raise NotImplementedError

    def _segment_sql(self, facility_id: int, s: Segment) -> tuple[str, dict[str, Any]]:
        self._want_tables("customers", "orders", "order_lines")
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
                self._want_admitted_orders(facility_id)
                conds.append(
                    ("" if s.checked_in else "NOT ")
                    + "o.id IN (SELECT order_id FROM admitted_orders)"
                )
            if s.annual_pass:
                self._want_tables("tickets")
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
        # The views are the newest versions, kept in memory (see export_cache); only the
        # facility's rows are read.
        sql = f"""
            WITH c AS (SELECT * FROM customers WHERE facility_id = $facility),
            ords AS (SELECT * FROM orders WHERE facility_id = $facility),
            lines AS (SELECT * FROM order_lines WHERE facility_id = $facility),
            tix AS (SELECT * FROM tickets WHERE facility_id = $facility),
            admitted_orders AS (
                SELECT order_id FROM _admitted_orders WHERE facility_id = $facility
            )
            SELECT DISTINCT c.customer_key FROM c WHERE {" AND ".join(where)}
        """
        return sql, params

    def _matching(self, facility_id: int, segment: Segment) -> str:
        """A temporary table of the segment's keys (column ``customer_key``).

        The page asks for the count and then a sample of the same segment; the keys are
        computed once and kept until the segment or the data (generation) changes.
        """
        sql, params = self._segment_sql(facility_id, segment)
        key = (sql, tuple(sorted(params.items())), self.generation(facility_id))
        if self._segment_memo != key:
            self._segment_memo = None
            self.connection.execute(f"CREATE OR REPLACE TEMP TABLE _segment_keys AS {sql}", params)
            self._segment_memo = key
        return "_segment_keys"

    def segment_keys(self, facility_id: int, segment: Segment) -> list[str]:
        """Every matching customer's pseudonymous key, sorted."""
        keys = self._matching(facility_id, segment)
        rows = self.connection.execute(f"SELECT customer_key FROM {keys} ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    def segment_count(self, facility_id: int, segment: Segment) -> int:
        keys = self._matching(facility_id, segment)
        (count,) = self.connection.execute(f"SELECT count(*) FROM {keys}").fetchall()[0]
        return int(count)

    def segment_sample(self, facility_id: int, segment: Segment, n: int = 10) -> list[str]:
        """A few matching keys (pseudonyms only), for the manager to sanity-check."""
        keys = self._matching(facility_id, segment)
        rows = self.connection.execute(
            f"SELECT customer_key FROM {keys} ORDER BY hash(customer_key) LIMIT {int(n)}"
        ).fetchall()
        return [r[0] for r in rows]
