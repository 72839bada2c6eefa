"""Read-only access to the Parquet exports through DuckDB, for the workbench and notebooks.

One class, :class:`ExportSource`, opens an export location (a directory or ``s3://``
URL, see ``docs/exports.md``) on an injectable DuckDB connection, in the manner of Lumen's
``DuckDBSource``. It sees only the files of published export runs (``export_files``), so
never an export half-written. For every exported table it defines two views:

- ``<table>_log``: every exported row version, as appended by the exporter (read from the
  files on each query: for history and ad-hoc analysis, not for the pages);
- ``<table>``: the newest version of each row (highest ``updated_at``, or ``scanned_at``
  for check-ins), because the exports are append-only and a row changed twice appears twice.

The pages never re-read or re-de-duplicate the log. :meth:`ExportSource.refresh` brings
memory tables up to date from the files that changed since the last refresh: the newest
version of every row of every table but check-ins (``export_cache``), check-ins summarised
per day and ticket for the days asked for (``checkin_cache``), the orders with an admitted
ticket (``admitted_orders``) and the lines of paid orders (``sales_cache``). Only what a
page's queries read is loaded. Queries read those tables, so a refresh costs the new files
plus small queries, whatever the size of the history.

The attendance queries live here so that the workbench and the notebooks share one
definition of "admitted visitor" and "valid ticket" and neither carries SQL of its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from kippu_contract.admission import ADMISSION_KINDS
from kippu_contract.export_schema import TABLES, ExportTable
from kippu_contract.export_store import ExportStore, local_path
from workbench.admitted_orders import AdmittedOrders
from workbench.checkin_cache import CheckinCache
from workbench.data_live import LiveQueries
from workbench.data_sales import SalesQueries
from workbench.data_segments import SegmentQueries
from workbench.export_cache import HIVE, Delta, FileCache, columns_of
from workbench.export_files import ExportListing, Partition, attach_store
from workbench.sales_cache import SalesLines
from workbench.settings import WorkbenchSettings

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Tokyo"
#: Check-ins are not copied to memory row by row (ten million of them): ``checkin_cache``
#: keeps a per-day summary instead.
SUMMARISED = "checkins"
#: Days whose admitted entries are kept materialised between queries, per facility read
#: (see _day_entries).
DAY_TABLES = 8


@dataclass(frozen=True, slots=True)
class Attendance:
    """Visitors of one facility on one day (F23)."""

    facility_id: int
    date: dt.date
    #: Distinct admission tickets with an admitted entry scan that day.
    admitted: int
    #: Admission tickets (day, timed, annual pass), not cancelled, valid that day.
    valid: int

    @property
    def visit_rate(self) -> float | None:
        """admitted / valid, or None when no ticket is valid that day."""
        return self.admitted / self.valid if self.valid else None


class ExportSource(LiveQueries, SalesQueries, SegmentQueries):
    """DuckDB views over one export directory; pass ``connection`` to share or inject one.

    Sales (``data_sales``), segment (``data_segments``) and attendance breakdown
    (``data_live``) queries come from mixins, to keep each module readable.
    """

    def __init__(
        self,
        location: str | os.PathLike[str] | ExportStore,
        connection: duckdb.DuckDBPyConnection | None = None,
        *,
        facilities: Iterable[int] | None = None,
    ) -> None:
        #: Where the exports are (a directory or an S3-compatible store).
        self.store = location if isinstance(location, ExportStore) else ExportStore.open(location)
        #: The export directory; None for an object store.
        self.export_dir = self.store.local_dir
        if connection is None:
            connection = duckdb.connect()
            # Hand memory freed after a load back to the system (a first load needs twice
            # what the tables keep); DuckDB's allocator otherwise holds on to it.
            connection.execute("SET allocator_background_threads = true")
        self.connection = connection
        #: The facilities whose files are read (None: every facility, as notebooks want);
        #: the shared store of the served workbench names those of signed-in managers.
        self._facilities = None if facilities is None else set(facilities)
        attach_store(connection, self.store)
        self._listing = ExportListing(self.store)
        #: The last listing, of every facility (see refresh).
        self._listed: dict[str, dict[str, Partition]] = {}
        self._cache = FileCache(self.connection)
        self._checkins = CheckinCache(self.connection)
        self._admitted = AdmittedOrders(self.connection)
        self._sales = SalesLines(self.connection)
        #: The last listing of every table's partitions (see refresh).
        self._partitions: dict[str, dict[str, Partition]] = {}
        #: The copied tables kept in memory (see _want_tables).
        self._wanted = {"facilities"}
        # Whether each table's log view reads files (else an empty placeholder), and which.
        self._log_reads_files: dict[str, bool] = {}
        self._log_files: dict[str, list[str]] = {}
        #: Bumped whenever a memory table changes; results derived from them remember it.
        self._generation = 0
        #: Bumped when a refresh changed a facility's rows only: a new scan file of one
        #: facility leaves the other facilities' day tables and segments valid.
        self._facility_generation: dict[int, int] = {}
        #: Facilities whose files changed since the last refresh that loaded them.
        self._pending: set[int] = set()
        self._day_tables: dict[tuple[int, dt.date], tuple[tuple[int, int], str]] = {}
        for table in TABLES.values():
            self._create_placeholder(table)
            self._define_log_view(table, has_files=False)
            self._define_table_view(table)
        self.refresh()

    @classmethod
    def from_env(cls, connection: duckdb.DuckDBPyConnection | None = None) -> ExportSource:
        """The exports named by ``KIPPU_EXPORT_URL`` or ``KIPPU_EXPORT_DIR`` (default
        ``var/exports``), as the workbench reads them (``WorkbenchSettings``).

        A relative path that does not exist under the working directory is tried under its
        parent too, because Jupyter runs notebooks in ``notebooks/``, below the repo root.
        """
        location = os.environ.get("KIPPU_EXPORT_URL") or os.environ.get(
            "KIPPU_EXPORT_DIR", "var/exports"
        )
        path = local_path(location)
        if path is None:
            return cls(WorkbenchSettings.from_env().export_store(), connection)
        if not path.is_absolute() and not path.exists() and (Path("..") / path).exists():
            path = Path("..") / path
        return cls(path, connection)

    # -- keeping current -------------------------------------------------------------------

    def list_partitions(self) -> dict[str, dict[str, Partition]]:
        """List the store's published files, for :meth:`refresh` (no DuckDB: any thread)."""
        return self._listing.partitions()

    def refresh(self, listed: dict[str, dict[str, Partition]] | None = None) -> None:
        """Pick up new export files: call before queries that must see the latest data.

        New files are loaded and merged-away files forgotten, table by table, in one
        transaction. Should a file vanish while it is read (compaction), everything stays
        as it was and the next refresh tries again. ``listed``: a listing made by
        :meth:`list_partitions` meanwhile (the shared store lists outside its lock).
        """
        self._listed = self.list_partitions() if listed is None else listed
        before = self._partitions
        self._partitions = self._loaded_partitions(self._listed)
        for name, parts in self._partitions.items():
            old = before.get(name, {})
            self._pending |= {p.facility_id for path, p in parts.items() if old.get(path) != p}
            self._pending |= {p.facility_id for path, p in old.items() if path not in parts}
        for table in TABLES.values():
            files = [f for p in self._partitions[table.name].values() for f in p.files]
            if files and files != self._log_files.get(table.name):
                self.connection.execute(
                    f"SET VARIABLE _files_{table.name} = $files", {"files": files}
                )
                self._log_files[table.name] = files
            self._define_log_view(table, bool(files))
        try:
            self._sync(self._wanted, changed=self._pending)
            self._pending = set()
        except duckdb.Error:
            log.warning("exports changed while loading; retrying next refresh", exc_info=True)

    def _loaded_partitions(
        self, listed: dict[str, dict[str, Partition]]
    ) -> dict[str, dict[str, Partition]]:
        """The listed partitions of the facilities this source reads (see ``facilities``)."""
        wanted = self._facilities
        if wanted is None:
            return listed
        return {
            name: {path: p for path, p in parts.items() if p.facility_id in wanted}
            for name, parts in listed.items()
        }

    @property
    def facilities(self) -> frozenset[int] | None:
        """The facilities read (None: all of them)."""
        return None if self._facilities is None else frozenset(self._facilities)

    def load_facility(self, facility_id: int) -> None:
        """Read ``facility_id``'s files from now on, loading them into memory now.

        Only for a source made with ``facilities``; the tables already kept in memory
        take the facility's files of the last listing in, as any new export file; the next
        :meth:`refresh` brings newer ones.
        """
        if self._facilities is None:
            raise ValueError("this source reads every facility")
        if facility_id not in self._facilities:
            self._facilities.add(facility_id)
            self.refresh(self._listed)

    def unload_facility(self, facility_id: int) -> None:
        """Forget ``facility_id``: its rows leave memory and its files are no longer read.

        Ids are unique across facilities (the core's sequences), so dropping a facility's
        rows never uncovers another facility's version of them; that is why this is a
        delete and not a sync (which would look for surviving versions in every file).
        """
        if self._facilities is None:
            raise ValueError("this source reads every facility")
        if facility_id not in self._facilities:
            return
        con = self.connection
        con.execute("BEGIN TRANSACTION")
        try:
            for table in TABLES.values():
                self._cache.forget_facility(table, facility_id)
            self._checkins.forget_facility(facility_id)
            self._admitted.forget_facility(facility_id)
            self._sales.forget_facility(facility_id)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        for table in TABLES.values():
            self._cache.commit_forget(table, facility_id)
        self._checkins.commit_forget(facility_id)
        self._admitted.commit_forget(facility_id)
        for key in [k for k in self._day_tables if k[0] == facility_id]:
            con.execute(f"DROP TABLE IF EXISTS {self._day_tables.pop(key)[1]}")
        self._facilities.discard(facility_id)
        self._generation += 1
        self.refresh(self._listed)  # the log views stop naming the facility's files

    def _sync(
        self,
        tables: Iterable[str],
        *,
        admitted_for: Iterable[int] = (),
        sales: bool = False,
        changed: set[int] | None = None,
    ) -> None:
        """Bring memory tables up to date with the last listing, in one transaction.

        ``tables``: the copied tables to sync (the check-in summaries always are);
        ``admitted_for``: facilities whose admitted orders are to be computed from scratch;
        ``sales``: compute the paid order lines from scratch. Derived tables already built
        are corrected with what the sync changed. Raises ``duckdb.Error`` when a file
        cannot be read, having changed nothing. ``changed``: the facilities whose files
        changed (a refresh), the only ones whose results derived from memory are stale.
        """
        con = self.connection
        files_done: list[tuple[ExportTable, dict[str, int]]] = []
        deltas: dict[str, Delta] = {}
        built = list(admitted_for)
        con.execute("BEGIN TRANSACTION")
        try:
            for name in sorted(tables):
                table = TABLES[name]
                files = [f for p in self._partitions[name].values() for f in p.files]
                deltas[name], numbers = self._cache.sync(table, files)
                files_done.append((table, numbers))
            checkins, days = self._checkins.sync(self._partitions[SUMMARISED].values())
            self._admitted.update(deltas.get("tickets", Delta()), checkins)
            self._sales.update(deltas)
            for facility_id in built:
                self._admitted.build(facility_id)
            if sales:
                self._sales.build()
            for table, _ in files_done:
                self._cache.drop_deltas(table)
            self._checkins.drop_deltas()
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        for table, numbers in files_done:
            self._cache.commit(table, numbers)
        self._checkins.commit(days)
        for facility_id in built:
            self._admitted.commit(facility_id)
        if sales:
            self._sales.commit()
        if checkins is not None or built or sales or any(d.changed for d in deltas.values()):
            if changed is None or built or sales:
                self._generation += 1
            for facility_id in changed or ():
                self._facility_generation[facility_id] = self.generation(facility_id)[1] + 1

    def generation(self, facility_id: int) -> tuple[int, int]:
        """Changes with every change of the facility's rows in memory (for memos)."""
        return self._generation, self._facility_generation.get(facility_id, 0)

    # A page asks for what its queries read, and only that is kept in memory and current:
    # every session has its own source, and an attendance page has no use for orders.

    def _want_tables(self, *names: str) -> None:
        """Keep these tables in memory from now on (loading them now if new)."""
        new = set(names) - self._wanted
        if new:
            self._wanted |= new
            self._sync(new)

    def _want_days(self, facility_id: int, *days: dt.date) -> None:
        """Summarise these days' check-ins from now on (loading them now if new)."""
        self._want_tables("tickets", "products")
        if any([self._checkins.want_day(facility_id, day) for day in days]):
            self._sync(())

    def _want_admitted_orders(self, facility_id: int) -> None:
        """Keep the facility's admitted orders (loading all its check-ins the first time)."""
        self._want_tables("tickets")
        if self._admitted.has_facility(facility_id):
            return
        self._checkins.want_facility(facility_id)
        self._sync((), admitted_for=[facility_id])

    def _want_sales_lines(self) -> None:
        """Keep the paid order lines (see sales_cache), joining every order the first time."""
        self._want_tables("orders", "order_lines", "payments")
        if not self._sales.built:
            self._sync((), sales=True)

    # -- views -------------------------------------------------------------------------

    def _define_table_view(self, table: ExportTable) -> None:
        columns = ", ".join(f'"{c}"' for c in columns_of(table))
        if table.name == SUMMARISED:
            # Ad-hoc only: the pages read the summaries in checkin_cache.
            source = (
                f"SELECT * FROM {table.name}_log QUALIFY row_number() OVER "
                f"(PARTITION BY id ORDER BY {table.watermark_column} DESC) = 1"
            )
        else:
            source = f"SELECT {columns} FROM {self._cache.relation(table)}"
        self.connection.execute(f"CREATE OR REPLACE VIEW {table.name} AS {source}")

    def _create_placeholder(self, table: ExportTable) -> None:
        """An empty table with the table's columns, read while it has no file yet."""
        con = self.connection
        con.register("_arrow_empty", table.schema.empty_table())
        con.execute(f"CREATE OR REPLACE TABLE _empty_{table.name} AS FROM _arrow_empty")
        con.unregister("_arrow_empty")

    def _define_log_view(self, table: ExportTable, has_files: bool) -> None:
        if self._log_reads_files.get(table.name) == has_files:
            return
        con = self.connection
        if has_files:
            # The files of the last refresh (set there), not a pattern: a pattern would read
            # the files of a run not yet published, too. union_by_name: files written
            # before a column was added lack it.
            files = f"getvariable('_files_{table.name}')"
            source = f"read_parquet({files}, {HIVE}, union_by_name = true)"
        else:
            source = f"_empty_{table.name}"
        columns = ", ".join(f'"{c}"' for c in columns_of(table))
        con.execute(f"CREATE OR REPLACE VIEW {table.name}_log AS SELECT {columns} FROM {source}")
        self._log_reads_files[table.name] = has_files

    def sql(self, query: str, params: list[object] | None = None) -> pd.DataFrame:
        """Run a query over the views and return a DataFrame (for ad-hoc analysis)."""
        self._want_tables(*(name for name in TABLES if name != SUMMARISED))
        return self.connection.execute(query, params or []).df()

    # -- facilities ----------------------------------------------------------------------

    def timezone(self, facility_id: int) -> str:
        rows = self.connection.execute(
            "SELECT timezone FROM facilities WHERE id = ?", [facility_id]
        ).fetchall()
        return rows[0][0] if rows and rows[0][0] else DEFAULT_TIMEZONE

    def today(self, facility_id: int, now: dt.datetime | None = None) -> dt.date:
        """The facility's current calendar date in its own time zone."""
        now = now or dt.datetime.now(dt.UTC)
        return now.astimezone(ZoneInfo(self.timezone(facility_id))).date()

    # -- attendance (F23) ----------------------------------------------------------------

    def _day_entries(self, facility_id: int, day: dt.date) -> str:
        """A table of the day's admission tickets with an admitted entry or exit.

        Columns: ``ticket_id``, ``first_entry_at`` (null: exits only), ``first_gate``,
        ``entries``, ``exits``, ``product_id``, ``product_code`` (the ticket's newest
        version). Every attendance figure of the day is a small query over it, so it is
        built once per day and data generation, not once per figure.
        """
        self._want_days(facility_id, day)
        key = (facility_id, day)
        memo = self._day_tables.get(key)
        if memo is not None and memo[0] == self.generation(facility_id):
            return memo[1]
        name = memo[1] if memo else f"_day_{facility_id}_{day:%Y%m%d}"
        self.connection.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {name} AS
            SELECT a.ticket_id, a.first_entry_at, a.first_gate, a.entries, a.exits,
                   t.product_id, t.product_code
            FROM _checkin_tickets AS a JOIN _mem_tickets AS t ON t.id = a.ticket_id
            WHERE a.facility_id = $facility AND a.date = $day AND t.facility_id = $facility
              AND list_contains($kinds, t.product_kind)
            """,
            {"facility": facility_id, "day": day, "kinds": list(ADMISSION_KINDS)},
        )
        self._day_tables.pop(key, None)
        self._day_tables[key] = (self.generation(facility_id), name)
        # Per facility read: a shared source serves the pages of every loaded facility.
        while len(self._day_tables) > DAY_TABLES * max(1, len(self._facilities or ())):
            evicted = next(iter(self._day_tables))
            self.connection.execute(f"DROP TABLE IF EXISTS {self._day_tables.pop(evicted)[1]}")
        return name

    def attendance(self, facility_id: int, day: dt.date) -> Attendance:
        """Admitted visitors and valid admission tickets of ``facility_id`` on ``day``."""
        entries = self._day_entries(facility_id, day)  # also keeps tickets in memory
        (admitted,) = self.connection.execute(
            f"SELECT count(*) FROM {entries} WHERE first_entry_at IS NOT NULL"
        ).fetchall()[0]
        (valid,) = self.connection.execute(
            """
            SELECT count(*) FROM _mem_tickets
            WHERE facility_id = $facility AND list_contains($kinds, product_kind)
              AND status <> 'cancelled' AND valid_from <= $day AND valid_until >= $day
            """,
            {"facility": facility_id, "day": day, "kinds": list(ADMISSION_KINDS)},
        ).fetchall()[0]
        return Attendance(facility_id=facility_id, date=day, admitted=admitted, valid=valid)

    def admissions_per_hour(self, facility_id: int, day: dt.date) -> pd.DataFrame:
        """Visitors admitted per local hour (0-23) of ``day``, by each ticket's first entry.

        Counting first entries makes the hours add up to :meth:`attendance`'s ``admitted``;
        a re-entry is not a new visitor.
        """
        entries = self._day_entries(facility_id, day)
        return self.connection.execute(
            f"""
            WITH counts AS (
                SELECT hour(timezone($tz, first_entry_at)) AS hour, count(*) AS admissions
                FROM {entries} WHERE first_entry_at IS NOT NULL GROUP BY 1
            )
            SELECT h.hour::INTEGER AS hour, coalesce(c.admissions, 0)::BIGINT AS admissions
            FROM range(24) AS h(hour) LEFT JOIN counts AS c ON c.hour = h.hour
            ORDER BY h.hour
            """,
            {"tz": self.timezone(facility_id)},
        ).df()
