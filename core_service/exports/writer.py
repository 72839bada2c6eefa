"""Writing Arrow batches as hive-partitioned Parquet files of one export run.

DuckDB's ``COPY ... PARTITION_BY`` writes each batch into a local staging directory; the
files are then published into ``<store>/<table>/facility_id=<id>/date=<day>/``: renamed on
a local disk, uploaded whole to an object store (:mod:`~core_service.exports.storage`).
Their names begin with the run id, so readers see them only once the run is published.
One DuckDB connection serves a whole run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa

from core_service.exports import storage
from kippu_contract.export_schema import PARTITION_BY, ExportTable
from kippu_contract.export_store import ExportStore


class PartitionedWriter:
    """Writes the batches of one export run; files are named ``<run>-<batch>-<n>.parquet``."""

    def __init__(self, store: ExportStore, staging: Path, run_id: str) -> None:
        self.store = store
        self.staging = staging
        self.run_id = run_id
        self.batches = 0
        self.files = 0
        self._duckdb: duckdb.DuckDBPyConnection | None = None

    def write(self, table: ExportTable, batch: pa.Table) -> int:
        """Append ``batch`` (rows of ``table.schema``) to the export; returns its rows."""
        self.batches += 1
        staging = self.staging / f"{self.run_id}-{self.batches}"
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
            made = sorted(target.rglob("*.parquet"))
            self.files += storage.publish(
                self.store,
                (
                    (path, self.store.path(table.name, *path.relative_to(target).parts))
                    for path in made
                ),
            )
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
