"""Writing Arrow batches as hive-partitioned Parquet files that appear atomically.

DuckDB's ``COPY ... PARTITION_BY`` writes each batch into a private staging directory;
the files are then renamed into ``<export_dir>/<table>/facility_id=<id>/date=<day>/``, so a
reader never sees a half-written file. One DuckDB connection serves a whole run.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa

from kippu_contract.export_schema import PARTITION_BY, ExportTable

#: Private directory of the export dir where files are written before they are moved in.
STAGING_DIR = "_staging"


class PartitionedWriter:
    """Writes the batches of one export run; files are named ``<run>-<batch>-<n>.parquet``."""

    def __init__(self, export_dir: Path) -> None:
        self.export_dir = export_dir
        self.run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self.batches = 0
        self.files = 0
        self._duckdb: duckdb.DuckDBPyConnection | None = None

    def write(self, table: ExportTable, batch: pa.Table) -> int:
        """Append ``batch`` (rows of ``table.schema``) to the export; returns its rows."""
        self.batches += 1
        staging = self.export_dir / STAGING_DIR / f"{self.run_id}-{self.batches}"
        target = staging / table.name
        staging.mkdir(parents=True, exist_ok=True)
        try:
            con = self._connection()
            con.register("batch", batch)
            try:
                pattern = f"{self.run_id}-{self.batches}-{{i}}"
                con.execute(
                    f"COPY batch TO '{sql_path(target)}' (FORMAT parquet, "
                    f"PARTITION_BY ({', '.join(PARTITION_BY)}), FILENAME_PATTERN '{pattern}')"
                )
            finally:
                con.unregister("batch")
            for path in sorted(target.rglob("*.parquet")):
                final = self.export_dir / table.name / path.relative_to(target)
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, final)  # atomic: readers see whole files only
                self.files += 1
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return batch.num_rows

    def close(self) -> None:
        if self._duckdb is not None:
            self._duckdb.close()
            self._duckdb = None

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._duckdb is None:
            self._duckdb = duckdb.connect()
        return self._duckdb


def sql_path(path: Path) -> str:
    """``path`` quoted for a single-quoted SQL string literal."""
    return str(path).replace("'", "''")
