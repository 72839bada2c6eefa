"""Merging the many small Parquet files of a partition into one.

Every export run appends a file to each partition it touches; ``kippu export --follow``
(or the core's background export) runs every few seconds, so a busy day's partition would
collect thousands of files, and DuckDB's time per query grows with the file count. After
each run the exporter merges any partition with ``min_files`` or more files into one file.

The merged file keeps every row version (the exports stay a log; readers de-duplicate).
It is published before the old files are removed, so a reader sees each row at least once;
during that instant a reader may see a row twice (absorbed by de-duplication) or, if it
listed the files just before the removal, fail one query and succeed on the next refresh.
The exporter merges only published files, after publishing its run, and the merged file is
named after the newest file it holds (``compact-<that file's name>``), so it belongs to an
already published run too. On an object store the inputs are downloaded to the staging
directory, merged there by DuckDB and the result uploaded.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import duckdb

from core_service.exports import storage
from kippu_contract.export_schema import TABLES
from kippu_contract.export_store import COMPACT_PREFIX, ExportStore, is_published, unmerged_name

#: Partitions with at least this many files are merged.
DEFAULT_MIN_FILES = 16


def compact_exports(
    store: ExportStore | os.PathLike[str], staging: Path, min_files: int = DEFAULT_MIN_FILES
) -> int:
    """Merge small files in every partition of every table; returns partitions merged.

    Call only while holding the export lock (the exporter does), so no writer races it.
    """
    if not isinstance(store, ExportStore):
        store = ExportStore.open(store)
    last_run = store.last_run()
    merged = 0
    for table in TABLES:
        partitions: dict[str, list[str]] = defaultdict(list)
        for info in store.parquet_files(table):
            if is_published(info.base_name, last_run):
                partitions[info.path.rsplit("/", 1)[0]].append(info.path)
        for partition, files in sorted(partitions.items()):
            if len(files) >= min_files:
                _merge(store, partition, sorted(files), staging)
                merged += 1
    return merged


def _merge(store: ExportStore, partition: str, files: list[str], staging: Path) -> None:
    staging.mkdir(parents=True, exist_ok=True)
    # Named after the newest input, so the merged file sorts where its rows belong (and
    # a merged file merged again does not grow a prefix per merge).
    newest = max(unmerged_name(f) for f in files)
    name = f"{COMPACT_PREFIX}{newest}"
    tmp = staging / name
    inputs = storage.fetch(store, files, staging / "inputs")
    listing = ", ".join("'" + str(f).replace("'", "''") + "'" for f in inputs)
    con = duckdb.connect()
    try:
        con.execute(
            f"COPY (SELECT * FROM read_parquet([{listing}], union_by_name = true)) "
            f"TO '{str(tmp).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)"
        )
    finally:
        con.close()
    target = f"{partition}/{name}"
    storage.publish(store, [(tmp, target)])
    storage.delete(store, [f for f in files if f != target])
    if store.local_dir is None:
        for copy in inputs:
            copy.unlink(missing_ok=True)
