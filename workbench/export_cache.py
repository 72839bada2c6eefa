"""An in-memory copy of exported tables, kept current file by file.

DuckDB reading Parquet pays per file: a table with a year of daily partitions has hundreds
of files, and opening them costs far more than the query (0.2 s against 0.01 s for the same
rows in one file, measured in ``bench``). The exports are append-only files, so a reader can
keep what it has read: each :meth:`FileCache.sync` lists the table's files, loads only the
new ones and drops the rows of files that disappeared (compaction merged them into a new
file, which is loaded in their place). Readers then query memory, and a refresh costs the
new files only. Rows carry their file name (``_file``) for exactly this bookkeeping.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from core_service.exports.schema import PARTITION_BY, ExportTable

log = logging.getLogger(__name__)


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


class FileCache:
    """Memory tables ``_mem_<table>`` on one DuckDB connection."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self._files: dict[str, set[str]] = {}

    def relation(self, table: ExportTable) -> str:
        """The memory table's name, created empty on first use."""
        name = f"_mem_{table.name}"
        if table.name not in self._files:
            self.connection.register(f"_empty_mem_{table.name}", table.schema.empty_table())
            columns = ", ".join(f'"{c}"' for c in (*table.file_columns, *PARTITION_BY))
            self.connection.execute(
                f"CREATE OR REPLACE TABLE {name} AS SELECT {columns}, ''::VARCHAR AS _file "
                f"FROM _empty_mem_{table.name} LIMIT 0"
            )
            self.connection.unregister(f"_empty_mem_{table.name}")
            self._files[table.name] = set()
        return name

    def sync(self, table: ExportTable, files: list[str] | list[Path]) -> int:
        """Load new files, forget vanished ones; returns the number of files loaded.

        A file merged away between listing and reading fails the load; nothing is marked
        as loaded then, and the next sync tries again.
        """
        name = self.relation(table)
        known = self._files[table.name]
        current = {str(f) for f in files}
        removed = sorted(known - current)
        added = sorted(current - known)
        columns = ", ".join(f'"{c}"' for c in (*table.file_columns, *PARTITION_BY))
        con = self.connection
        try:
            con.execute("BEGIN TRANSACTION")
            if removed:
                con.execute(
                    f"DELETE FROM {name} WHERE list_contains($files, _file)", {"files": removed}
                )
            if added:
                con.execute(
                    f"INSERT INTO {name} SELECT {columns}, filename AS _file FROM read_parquet("
                    f"{_sql_list(added)}, hive_partitioning = true, union_by_name = true, "
                    "filename = true, hive_types = {'facility_id': BIGINT, 'date': DATE})"
                )
            con.execute("COMMIT")
        except duckdb.Error:
            con.execute("ROLLBACK")
            log.warning("export cache: %s changed while loading; retrying next refresh", table.name)
            return 0
        known.difference_update(removed)
        known.update(added)
        return len(added)
