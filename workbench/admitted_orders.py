"""Orders with an admitted ticket, per facility, kept current as tickets and scans arrive.

The mailing segment "checked in" asks, for every order of a facility, whether one of its
tickets (newest version) had an admitted entry scan at that facility on any day. Joining
every summarised scan with every ticket per recount cost seconds, so
:class:`AdmittedOrders` keeps the answer in ``_admitted_orders (facility_id, order_id)``,
built once per facility and then corrected only for the orders a sync may have changed:

- a ticket version replaced or added (its old and its new order);
- a ticket whose day summary went from "no admitted entry" to "some", or back.

For those orders membership is recomputed from scratch, so the table stays exactly what
building it again would give.
"""

from __future__ import annotations

import duckdb

from workbench.checkin_cache import TABLE as CHECKIN_TICKETS
from workbench.export_cache import Delta

TABLE = "_admitted_orders"

# Orders (facility_id, order_id) in _candidates that have a ticket of the same facility
# with an admitted entry at that facility on some day.
_MEMBERS = f"""
    SELECT DISTINCT t.facility_id, t.order_id FROM _mem_tickets AS t
    SEMI JOIN _candidates AS c ON c.facility_id = t.facility_id AND c.order_id = t.order_id
    SEMI JOIN (SELECT facility_id, ticket_id FROM {CHECKIN_TICKETS} WHERE entries > 0) AS a
        ON a.facility_id = t.facility_id AND a.ticket_id = t.id
"""


class AdmittedOrders:
    """``_admitted_orders`` for the facilities that asked for it (:meth:`build`)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        connection.execute(f"CREATE OR REPLACE TABLE {TABLE} (facility_id BIGINT, order_id BIGINT)")
        self._facilities: set[int] = set()

    def has_facility(self, facility_id: int) -> bool:
        return facility_id in self._facilities

    def build(self, facility_id: int) -> None:
        """Compute the facility's orders from scratch (its check-ins must all be summarised).

        Call inside a transaction, then :meth:`commit`.
        """
        con = self.connection
        con.execute(f"DELETE FROM {TABLE} WHERE facility_id = $f", {"f": facility_id})
        con.execute(
            f"""
            INSERT INTO {TABLE}
            SELECT DISTINCT t.facility_id, t.order_id FROM _mem_tickets AS t
            SEMI JOIN (
                SELECT ticket_id FROM {CHECKIN_TICKETS} WHERE facility_id = $f AND entries > 0
            ) AS a ON a.ticket_id = t.id
            WHERE t.facility_id = $f
            """,
            {"f": facility_id},
        )

    def commit(self, facility_id: int) -> None:
        self._facilities.add(facility_id)

    def forget_facility(self, facility_id: int) -> None:
        """Delete the facility's orders; in a transaction, then :meth:`commit_forget`."""
        self.connection.execute(f"DELETE FROM {TABLE} WHERE facility_id = $f", {"f": facility_id})

    def commit_forget(self, facility_id: int) -> None:
        self._facilities.discard(facility_id)

    def update(self, tickets: Delta, checkins: tuple[str, str] | None) -> None:
        """Correct the orders a sync may have changed; call in the sync's transaction."""
        if not self._facilities or (not tickets.changed and checkins is None):
            return
        con = self.connection
        parts = []
        for name in (tickets.old, tickets.new):
            if name is not None:
                parts.append(f"SELECT facility_id, order_id FROM {name}")
        if checkins is not None:
            old, new = checkins
            # Only a ticket whose "admitted that day" flipped can change an order.
            parts.append(
                f"""
                SELECT t.facility_id, t.order_id FROM _mem_tickets AS t
                SEMI JOIN (
                    SELECT coalesce(o.facility_id, n.facility_id) AS facility_id,
                           coalesce(o.ticket_id, n.ticket_id) AS ticket_id
                    FROM {old} AS o FULL JOIN {new} AS n
                        ON n.facility_id = o.facility_id AND n.date = o.date
                       AND n.ticket_id = o.ticket_id
                    WHERE (coalesce(o.entries, 0) > 0) <> (coalesce(n.entries, 0) > 0)
                ) AS f ON f.facility_id = t.facility_id AND f.ticket_id = t.id
                """
            )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _candidates AS SELECT DISTINCT * FROM ("
            + " UNION ALL ".join(parts)
            + ") WHERE list_contains($f, facility_id) AND order_id IS NOT NULL",
            {"f": sorted(self._facilities)},
        )
        con.execute(
            f"DELETE FROM {TABLE} USING _candidates AS c "
            f"WHERE {TABLE}.facility_id = c.facility_id AND {TABLE}.order_id = c.order_id"
        )
        con.execute(f"INSERT INTO {TABLE} {_MEMBERS}")
        con.execute("DROP TABLE _candidates")
