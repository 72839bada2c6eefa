"""The newest version of every exported row, in memory, kept current file by file.

The exports are an append-only log: a row changed twice appears twice, and readers keep the
newest version of each id (``docs/exports.md``). De-duplicating a million orders on every
page refresh cost seconds, and opening hundreds of daily Parquet files per query cost more
than the queries, so :class:`FileCache` keeps, per table, a memory table ``_mem_<table>``
holding only the newest version of each id, and brings it up to date from the files that
changed since the last :meth:`FileCache.sync`:

- rows of a new file replace the versions they supersede (a tie goes to the new file; two
  versions with the same id and ``updated_at`` are the same version exported twice);
- rows whose file vanished are dropped. Compaction merges a partition's files into a new
  file that keeps every version, so the merged file, loaded in the same sync, puts them
  back. Should a file vanish without a replacement, the newest surviving version of each
  id it held is read back from the files that remain, so the table is always exactly
  what de-duplicating all current files would give.

Each row carries the number of the file it came from (``_file``) for this bookkeeping.
A sync reports what it replaced and inserted (:class:`Delta`), so that tables derived from
these (``admitted_orders``, ``sales_cache``) can be maintained incrementally as well.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from kippu_contract.export_schema import PARTITION_BY, ExportTable

#: The column a table's rows are kept sorted by on the first load (default: the partition
#: date). Tickets: the attendance page counts tickets valid today, and few are valid
#: until today or later.
CLUSTER_BY = {"tickets": "valid_until"}

#: Hive types given explicitly: inference would read an all-digit date wrongly.
HIVE = "hive_partitioning = true, hive_types = {'facility_id': BIGINT, 'date': DATE}"


def sql_list(paths: Iterable[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def columns_of(table: ExportTable) -> list[str]:
    """The table's columns as the workbench sees them: file columns, then partition keys."""
    return [*table.file_columns, *PARTITION_BY]


@dataclass(frozen=True, slots=True)
class Delta:
    """What one sync changed in a table, as names of temporary tables (None: nothing).

    ``old``: the versions that were replaced or dropped; ``new``: the versions inserted
    (on the first load, the memory table itself). Both have the memory table's columns.
    Temporary tables are valid until :meth:`FileCache.drop_deltas`.
    """

    old: str | None = None
    new: str | None = None

    @property
    def changed(self) -> bool:
        return self.old is not None or self.new is not None


class FileCache:
    """Memory tables ``_mem_<table>``, newest version per id, on one DuckDB connection.

    :meth:`sync` runs inside the caller's transaction and returns what to remember once
    it commits (:meth:`commit`); a rolled back sync leaves the bookkeeping as it was, so
    the next sync tries the same files again.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self._files: dict[str, dict[str, int]] = {}
        self._numbers = itertools.count(1)

    def relation(self, table: ExportTable) -> str:
        """The memory table's name, created empty on first use."""
        name = f"_mem_{table.name}"
        if table.name not in self._files:
            con = self.connection
            con.register(f"_empty_mem_{table.name}", table.schema.empty_table())
            columns = ", ".join(f'"{c}"' for c in columns_of(table))
            con.execute(
                f"CREATE OR REPLACE TABLE {name} AS SELECT {columns}, 0::INTEGER AS _file "
                f"FROM _empty_mem_{table.name} LIMIT 0"
            )
            con.unregister(f"_empty_mem_{table.name}")
            self._files[table.name] = {}
        return name

    def sync(self, table: ExportTable, files: Iterable[str]) -> tuple[Delta, dict[str, int]]:
        """Load new files and forget vanished ones; call inside a transaction.

        Returns the delta and the table's file numbers to :meth:`commit` after COMMIT.
        A file merged away between listing and reading raises ``duckdb.Error``.
        """
        name = self.relation(table)
        known = self._files[table.name]
        current = set(files)
        removed = sorted(known.keys() - current)
        added = sorted(current - known.keys())
        if not removed and not added:
            return Delta(), known
        numbers = {path: n for path, n in known.items() if path in current}
        numbers.update((path, next(self._numbers)) for path in added)
        con = self.connection
        stamp = table.watermark_column
        if not known:
            # The first load: no version to supersede, and no copy of a big table as delta.
            # Rows are stored in the order of the column queries filter on most, so that
            # DuckDB's per-block min/max skip most of a table (later files append newer
            # rows at the end, which keeps that order roughly). Superseded versions are
            # deleted afterwards: ranking only ids and versions needs far less memory than
            # ranking whole rows (0.6 against 1.1 GB at two million tickets).
            order = CLUSTER_BY.get(table.name, "date")
            con.execute(
                f'INSERT INTO {name} {self._read(table, added, numbers)} ORDER BY "{order}"'
            )
            con.execute(
                f"DELETE FROM {name} WHERE rowid IN (SELECT rowid FROM (SELECT rowid, "
                f'row_number() OVER (PARTITION BY id ORDER BY "{stamp}" DESC) AS n '
                f"FROM {name}) WHERE n > 1)"
            )
            return Delta(new=name), numbers
        old = f"_old_{table.name}"
        new = f"_new_{table.name}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {old} AS FROM {name} LIMIT 0")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {new} AS FROM {name} LIMIT 0")
        gone = [known[p] for p in removed]
        if removed:
            con.execute(
                f"INSERT INTO {old} FROM {name} WHERE list_contains($gone, _file)", {"gone": gone}
            )
            con.execute(f"DELETE FROM {name} WHERE list_contains($gone, _file)", {"gone": gone})
        if added:
            con.execute(
                f"INSERT INTO {new} {self._read(table, added, numbers)} "
                f'QUALIFY row_number() OVER (PARTITION BY id ORDER BY "{stamp}" DESC) = 1'
            )
            # Versions already held that are newer than the file's stay; older ones go.
            con.execute(
                f'DELETE FROM {new} USING {name} AS m WHERE m.id = {new}.id AND m."{stamp}" > '
                f'{new}."{stamp}"'
            )
            con.execute(f"INSERT INTO {old} FROM {name} SEMI JOIN {new} USING (id)")
            con.execute(f"DELETE FROM {name} USING {new} WHERE {name}.id = {new}.id")
        if removed:
            # Ids whose newest version vanished and came back from no new file (at least as
            # new): their newest surviving version is in some current file (rare; see above).
            lost = con.execute(
                f"SELECT o.id FROM {old} AS o LEFT JOIN {new} AS n USING (id) "
                f'WHERE list_contains($gone, o._file) AND (n.id IS NULL OR n."{stamp}" < '
                f'o."{stamp}")',
                {"gone": gone},
            ).fetchall()
            if lost and current:
                ids = [r[0] for r in lost]
                con.execute(f"DELETE FROM {new} WHERE list_contains($ids, id)", {"ids": ids})
                con.execute(
                    f"INSERT INTO {new} {self._read(table, sorted(current), numbers)} "
                    "WHERE list_contains($ids, r.id) "
                    f'QUALIFY row_number() OVER (PARTITION BY r.id ORDER BY r."{stamp}" DESC) = 1',
                    {"ids": ids},
                )
        con.execute(f"INSERT INTO {name} FROM {new}")
        return Delta(old=old, new=new), numbers

    def forget_facility(self, table: ExportTable, facility_id: int) -> None:
        """Delete the facility's rows; call inside a transaction, then :meth:`commit_forget`."""
        if table.name in self._files:
            self.connection.execute(
                f"DELETE FROM _mem_{table.name} WHERE facility_id = $f", {"f": facility_id}
            )

    def commit_forget(self, table: ExportTable, facility_id: int) -> None:
        """Forget the facility's files (their rows deleted by :meth:`forget_facility`)."""
        known = self._files.get(table.name)
        if known is not None:
            part = f"facility_id={facility_id}"
            self._files[table.name] = {
                path: n for path, n in known.items() if part not in path.split("/")
            }

    def drop_deltas(self, table: ExportTable) -> None:
        """Free the delta tables of the last sync (once derived tables are updated)."""
        for prefix in ("_old_", "_new_"):
            self.connection.execute(f"DROP TABLE IF EXISTS {prefix}{table.name}")

    def commit(self, table: ExportTable, numbers: dict[str, int]) -> None:
        """Remember the files of a sync whose transaction committed."""
        self._files[table.name] = numbers

    def _read(self, table: ExportTable, paths: list[str], numbers: dict[str, int]) -> str:
        """A SELECT of ``paths``' rows (alias ``r``) with the memory table's columns."""
        columns = ", ".join(f'r."{c}"' for c in columns_of(table))
        file_numbers = "[" + ", ".join(str(numbers[p]) for p in paths) + "]"
        return (
            f"SELECT {columns}, f.n AS _file FROM read_parquet({sql_list(paths)}, {HIVE}, "
            "union_by_name = true, filename = true) AS r "
            f"JOIN (SELECT unnest({sql_list(paths)}) AS path, unnest({file_numbers}) AS n) "
            "AS f ON f.path = r.filename"
        )
