"""Merging the many small Parquet files of a partition into one.

Every export run appends a file to each partition it touches; ``kippu export --follow``
(or the workbench) runs every few seconds, so a busy day's partition would collect
thousands of files, and DuckDB's time per query grows with the file count. After each run
the exporter merges any partition with ``min_files`` or more files into one file.

The merged file keeps every row version (the exports stay a log; readers de-duplicate).
It is moved in before the old files are removed, so a reader sees each row at least once;
during that instant a reader may see a row twice (absorbed by de-duplication) or, if it
listed the files just before the removal, fail one query and succeed on the next refresh.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from kippu_contract.export_schema import TABLES

#: Partitions with at least this many files are merged.
DEFAULT_MIN_FILES = 16


def compact_exports(export_dir: Path, staging: Path, min_files: int = DEFAULT_MIN_FILES) -> int:
    """Merge small files in every partition of every table; returns partitions merged.

    Call only while holding the export lock (the exporter does), so no writer races it.
    """
    merged = 0
    for table in TABLES:
        for partition in sorted((export_dir / table).glob("*/*")):
            files = sorted(partition.glob("*.parquet"))
            if len(files) >= min_files:
                _merge(partition, files, staging)
                merged += 1
    return merged


def _merge(partition: Path, files: list[Path], staging: Path) -> None:
    staging.mkdir(parents=True, exist_ok=True)
    # Named after the newest input, so the merged file sorts where its rows belong.
    name = f"compact-{files[-1].stem}.parquet"
    tmp = staging / name
    listing = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    con = duckdb.connect()
    try:
        con.execute(
            f"COPY (SELECT * FROM read_parquet([{listing}], union_by_name = true)) "
            f"TO '{str(tmp).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)"
        )
    finally:
        con.close()
    os.replace(tmp, partition / name)
    for f in files:
        if f.name != name:
            f.unlink(missing_ok=True)
