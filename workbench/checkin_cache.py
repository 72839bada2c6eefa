"""Check-ins summarised per facility, day and ticket, in memory, one partition at a time.

Ten million check-ins are too many to keep or to re-read per refresh, but every question the
workbench asks of them is about admitted entries and exits of a ticket on a day: the first
entry (when and at which gate), how many entries and exits. :class:`CheckinCache` keeps
exactly that in ``_checkin_tickets`` (one row per facility, day and ticket with an admitted
entry or exit), for the days a page asked for (:meth:`CheckinCache.want_day`) or for every
day of a facility (:meth:`CheckinCache.want_facility`, for "checked in" segments).

Check-ins never change, but a scan can be exported twice (the first run after an
upgrade, a crash, or for an instant both a partition's files and their merged copy);
summaries count each scan id once. A partition's rows are recomputed from all its current files whenever its file
list changes, which keeps that exact with any mix of new and merged files; a partition
is one day, so that costs the day's scans, not the year's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import duckdb

from workbench.export_cache import HIVE, sql_list
from workbench.export_files import Partition

TABLE = "_checkin_tickets"
#: Days summarised per query when many are new (see sync).
DAYS_PER_QUERY = 31
Day = tuple[int, dt.date]

# Admitted entry and exit scans of the given files, each scan id once (check-ins never
# change, so any copy of a scan is the scan), summarised per facility, day and ticket.
_SUMMARY = """
    SELECT facility_id, date, ticket_id,
           min(scanned_at) FILTER (WHERE direction = 'entry') AS first_entry_at,
           arg_min(coalesce(gate_name, '-'), scanned_at) FILTER (WHERE direction = 'entry')
               AS first_gate,
           count(*) FILTER (WHERE direction = 'entry')::INTEGER AS entries,
           count(*) FILTER (WHERE direction = 'exit')::INTEGER AS exits
    FROM (
        SELECT DISTINCT ON (id) id, facility_id, date, ticket_id, direction, gate_name,
               scanned_at
        FROM read_parquet({files}, {hive}, union_by_name = true)
        WHERE result = 'admitted' AND direction IN ('entry', 'exit') AND ticket_id IS NOT NULL
    )
    GROUP BY facility_id, date, ticket_id
"""


class CheckinCache:
    """``_checkin_tickets`` for the wanted days, on one DuckDB connection.

    Like :class:`workbench.export_cache.FileCache`, :meth:`sync` runs in the caller's
    transaction and its bookkeeping is kept by :meth:`commit` only after COMMIT.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        connection.execute(
            f"CREATE OR REPLACE TABLE {TABLE} (facility_id BIGINT, date DATE, ticket_id BIGINT, "
            "first_entry_at TIMESTAMPTZ, first_gate VARCHAR, entries INTEGER, exits INTEGER)"
        )
        self._days: set[Day] = set()
        self._facilities: set[int] = set()
        #: The files each summarised day was computed from.
        self._loaded: dict[Day, tuple[str, ...]] = {}

    def want_day(self, facility_id: int, day: dt.date) -> bool:
        """Summarise ``day`` from now on; True when it was not summarised yet."""
        if facility_id in self._facilities or (facility_id, day) in self._days:
            return False
        self._days.add((facility_id, day))
        return True

    def want_facility(self, facility_id: int) -> bool:
        """Summarise every day of ``facility_id``; True when that is new."""
        if facility_id in self._facilities:
            return False
        self._facilities.add(facility_id)
        return True

    def has_facility(self, facility_id: int) -> bool:
        return facility_id in self._facilities

    def sync(
        self, partitions: Iterable[Partition]
    ) -> tuple[tuple[str, str] | None, dict[Day, tuple[str, ...]]]:
        """Recompute the wanted days whose files changed; call inside a transaction.

        Returns the names of two temporary tables holding the replaced and the new rows
        of the recomputed days (None when nothing changed), and the bookkeeping for
        :meth:`commit`.
        """
        wanted: dict[Day, tuple[str, ...]] = {
            (p.facility_id, p.date): p.files
            for p in partitions
            if p.facility_id in self._facilities or (p.facility_id, p.date) in self._days
        }
        stale = [d for d, files in wanted.items() if self._loaded.get(d) != files]
        stale += [d for d in self._loaded if d not in wanted]  # every file of the day gone
        if not stale:
            return None, self._loaded
        con = self.connection
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _stale_days AS "
            "SELECT unnest($f) AS facility_id, unnest($d) AS date",
            {"f": [f for f, _ in stale], "d": [d for _, d in stale]},
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _old_checkin_tickets AS FROM {TABLE} "
            "SEMI JOIN _stale_days USING (facility_id, date)"
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE _new_checkin_tickets AS FROM {TABLE} LIMIT 0")
        con.execute(
            f"DELETE FROM {TABLE} USING _stale_days AS s "
            f"WHERE {TABLE}.facility_id = s.facility_id AND {TABLE}.date = s.date"
        )
        # A month of days per query: a year of scans at once needs gigabytes to de-duplicate,
        # and a scan's copies are always in one day (its partition never changes).
        days = sorted(d for d in stale if d in wanted)
        for start in range(0, len(days), DAYS_PER_QUERY):
            files = [f for d in days[start : start + DAYS_PER_QUERY] for f in wanted[d]]
            # Sorted by day, so that a day's rows sit in few blocks that DuckDB's per-block
            # min/max find (new days arrive later, at the end, keeping the order).
            con.execute(
                "INSERT INTO _new_checkin_tickets "
                + _SUMMARY.format(files=sql_list(files), hive=HIVE)
                + " ORDER BY facility_id, date, ticket_id"
            )
        con.execute(f"INSERT INTO {TABLE} FROM _new_checkin_tickets")
        return ("_old_checkin_tickets", "_new_checkin_tickets"), wanted

    def drop_deltas(self) -> None:
        """Free the delta tables of the last sync (once derived tables are updated)."""
        for name in ("_stale_days", "_old_checkin_tickets", "_new_checkin_tickets"):
            self.connection.execute(f"DROP TABLE IF EXISTS {name}")

    def commit(self, loaded: Mapping[Day, tuple[str, ...]]) -> None:
        self._loaded = dict(loaded)
