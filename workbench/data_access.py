"""Read-only access to the Parquet exports through DuckDB, for the workbench and notebooks.

One class, :class:`ExportSource`, opens an export directory (see ``docs/exports.md``) on an
injectable DuckDB connection, in the manner of Lumen's ``DuckDBSource``. For every exported
table it defines two views:

- ``<table>_log``: every exported row version, as appended by the exporter;
- ``<table>``: the newest version of each row (highest ``updated_at``, or ``scanned_at``
  for check-ins), because the exports are append-only and a row changed twice appears twice.

The attendance queries live here so that the workbench and the notebooks share one
definition of "admitted visitor" and "valid ticket" and neither carries SQL of its own.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from core_service.exports.schema import PARTITION_BY, TABLES, ExportTable
from core_service.models.catalog import ADMISSION_KINDS

from .data_live import LiveQueries
from .data_sales import SalesQueries
from .data_segments import SegmentQueries
from .export_cache import FileCache

DEFAULT_TIMEZONE = "Asia/Tokyo"
#: Check-ins stay on disk: queries read one day's partition at a time, which prunes well,
#: while every other table is de-duplicated across all its partitions (see export_cache).
UNCACHED = frozenset({"checkins"})


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
        export_dir: str | os.PathLike[str],
        connection: duckdb.DuckDBPyConnection | None = None,
        *,
        cache: bool = True,
    ) -> None:
        self.export_dir = Path(export_dir)
        self.connection = connection if connection is not None else duckdb.connect()
        # Tables whose view currently reads Parquet files (the rest read an empty table).
        self._with_files: set[str] = set()
        #: None: every view reads the files on every query (no memory, slower).
        self._cache = FileCache(self.connection) if cache else None
        self._define_views(force=True)

    @classmethod
    def from_env(cls, connection: duckdb.DuckDBPyConnection | None = None) -> ExportSource:
        """The export dir named by ``KIPPU_EXPORT_DIR`` (default ``var/exports``).

        A relative path that does not exist under the working directory is tried under its
        parent too, because Jupyter runs notebooks in ``notebooks/``, below the repo root.
        """
        path = Path(os.environ.get("KIPPU_EXPORT_DIR", "var/exports"))
        if not path.is_absolute() and not path.exists() and (Path("..") / path).exists():
            path = Path("..") / path
        return cls(path, connection)

    # -- views -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Pick up new export files: call before queries that must see the latest data.

        Cached tables load their new files (and drop merged ones); views over a glob see
        new files by themselves, and only a table that had no file at all needs its view
        switched from the empty placeholder.
        """
        self._define_views(force=False)

    def _define_views(self, *, force: bool) -> None:
        for table in TABLES.values():
            if self._cache is not None and table.name not in UNCACHED:
                # glob.glob on strings: pathlib's glob costs ~0.1 s per refresh at 365 days.
                pattern = os.path.join(
                    glob.escape(str(self._table_dir(table))), "*", "*", "*.parquet"
                )
                self._cache.sync(table, glob.glob(pattern))
                if force:
                    self._define_log(table, self._cache.relation(table))
                continue
            has_files = any(self._table_dir(table).glob("*/*/*.parquet"))
            if not force and has_files == (table.name in self._with_files):
                continue
            self._define_view(table, has_files)
            if has_files:
                self._with_files.add(table.name)
            else:
                self._with_files.discard(table.name)

    def _table_dir(self, table: ExportTable) -> Path:
        return self.export_dir / table.name

    def _define_view(self, table: ExportTable, has_files: bool) -> None:
        con = self.connection
        if has_files:
            files = str(self._table_dir(table) / "*" / "*" / "*.parquet").replace("'", "''")
            by_name = "true" if self._files_lack_columns(table, files) else "false"
            # Explicit hive types: inference would read an all-digit date wrongly.
            source = (
                f"read_parquet('{files}', hive_partitioning = true, union_by_name = {by_name}, "
                "hive_types = {'facility_id': BIGINT, 'date': DATE})"
            )
        else:
            con.register(f"_empty_{table.name}", table.schema.empty_table())
            source = f"_empty_{table.name}"
        self._define_log(table, source)

    def _define_log(self, table: ExportTable, source: str) -> None:
        con = self.connection
        columns = ", ".join(f'"{c}"' for c in (*table.file_columns, *PARTITION_BY))
        con.execute(f"CREATE OR REPLACE VIEW {table.name}_log AS SELECT {columns} FROM {source}")
        con.execute(
            f"CREATE OR REPLACE VIEW {table.name} AS SELECT * FROM {table.name}_log "
            f"QUALIFY row_number() OVER (PARTITION BY id ORDER BY {table.watermark_column} DESC)"
            " = 1"
        )

    def _files_lack_columns(self, table: ExportTable, files: str) -> bool:
        """Whether some file predates a column (then columns must be matched by name).

        ``union_by_name`` reads every file's footer on every query, which costs more than
        the query itself once a table has hundreds of daily partitions; files written by
        this version always have every column, so checking once when the view is defined
        is enough (a process of an older version is restarted on upgrade anyway).
        """
        row = self.connection.execute(
            f"""
            SELECT count(*) FROM (
                SELECT file_name, count(*) FILTER (WHERE list_contains($cols, name)) AS n
                FROM parquet_schema('{files}') GROUP BY file_name
            ) WHERE n < len($cols)
            """,
            {"cols": list(table.file_columns)},
        ).fetchone()
        return bool(row and row[0])

    def sql(self, query: str, params: list[object] | None = None) -> pd.DataFrame:
        """Run a query over the views and return a DataFrame (for ad-hoc analysis)."""
        return self.connection.execute(query, params or []).df()

    # -- facilities ----------------------------------------------------------------------

    def timezone(self, facility_id: int) -> str:
        row = self.connection.execute(
            "SELECT timezone FROM facilities WHERE id = ?", [facility_id]
        ).fetchone()
        return row[0] if row and row[0] else DEFAULT_TIMEZONE

    def today(self, facility_id: int, now: dt.datetime | None = None) -> dt.date:
        """The facility's current calendar date in its own time zone."""
        now = now or dt.datetime.now(dt.UTC)
        return now.astimezone(ZoneInfo(self.timezone(facility_id))).date()

    # -- attendance (F23) ----------------------------------------------------------------

    # Filters on the partition keys go *before* de-duplication, so DuckDB reads only the
    # facility's directories. That is safe for facility_id (a row never changes facility)
    # but not for a ticket's date (valid_from may change), hence no date filter on tickets.
    # Check-ins never change: duplicates of a scan cannot change a min() or a distinct count,
    # so they are read from the log, pruned to one facility and day.
    # The day's scans are read from the log pruned to one facility and day (check-ins never
    # change; duplicates cannot change a min() or a distinct count). Only the tickets those
    # scans name are de-duplicated, not every ticket the facility ever sold; that keeps a
    # refresh fast with millions of tickets.
    _FIRST_ENTRIES = """
        WITH day_entries AS (
            SELECT ticket_id, scanned_at FROM checkins_log
            WHERE facility_id = $facility AND date = $day
              AND direction = 'entry' AND result = 'admitted'
        ),
        facility_tickets AS (
            SELECT id, product_kind FROM tickets_log
            WHERE facility_id = $facility AND id IN (SELECT ticket_id FROM day_entries)
            QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1
        )
        SELECT e.ticket_id, min(e.scanned_at) AS first_at
        FROM day_entries AS e
        JOIN facility_tickets AS t ON t.id = e.ticket_id
        WHERE list_contains($kinds, t.product_kind)
        GROUP BY e.ticket_id
    """

    def attendance(self, facility_id: int, day: dt.date) -> Attendance:
        """Admitted visitors and valid admission tickets of ``facility_id`` on ``day``."""
        params = {"facility": facility_id, "day": day, "kinds": list(ADMISSION_KINDS)}
        admitted_row = self.connection.execute(
            f"SELECT count(*) FROM ({self._FIRST_ENTRIES})", params
        ).fetchone()
        valid_row = self.connection.execute(
            """
            WITH candidates AS (
                -- Any version valid that day (its partition date is its valid_from, hence
                -- the pruning); the newest version of each decides below.
                SELECT DISTINCT id FROM tickets_log
                WHERE facility_id = $facility AND date <= $day
                  AND valid_from <= $day AND valid_until >= $day
            ),
            facility_tickets AS (
                SELECT * FROM tickets_log
                WHERE facility_id = $facility AND id IN (SELECT id FROM candidates)
                QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1
            )
            SELECT count(*) FROM facility_tickets
            WHERE list_contains($kinds, product_kind)
              AND status <> 'cancelled' AND valid_from <= $day AND valid_until >= $day
            """,
            params,
        ).fetchone()
        return Attendance(
            facility_id=facility_id,
            date=day,
            admitted=int(admitted_row[0]) if admitted_row else 0,
            valid=int(valid_row[0]) if valid_row else 0,
        )

    def admissions_per_hour(self, facility_id: int, day: dt.date) -> pd.DataFrame:
        """Visitors admitted per local hour (0-23) of ``day``, by each ticket's first entry.

        Counting first entries makes the hours add up to :meth:`attendance`'s ``admitted``;
        a re-entry is not a new visitor.
        """
        params = {
            "facility": facility_id,
            "day": day,
            "kinds": list(ADMISSION_KINDS),
            "tz": self.timezone(facility_id),
        }
        frame = self.connection.execute(
            f"""
            WITH firsts AS ({self._FIRST_ENTRIES}),
            counts AS (
                SELECT hour(timezone($tz, first_at)) AS hour, count(*) AS admissions
                FROM firsts GROUP BY 1
            )
            SELECT h.hour::INTEGER AS hour, coalesce(c.admissions, 0)::BIGINT AS admissions
            FROM range(24) AS h(hour) LEFT JOIN counts AS c ON c.hour = h.hour
            ORDER BY h.hour
            """,
            params,
        ).df()
        return frame
