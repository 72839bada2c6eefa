"""Listing the exports' Parquet files, partition by partition, cheaply and repeatedly.

:class:`ExportListing` lists every table of an export store and keeps only the files of
published runs (``kippu_contract.export_store``): it reads the stamp, lists, and reads the
stamp again, listing once more should a run have been published meanwhile, so that the
files it returns are exactly an export as some completed run left it. A local directory is
listed with :class:`TableListing` (below); an object store with one listing per table.
:func:`attach_store` lets DuckDB read a remote store's files by their ``s3://`` names.

Every refresh must notice new and vanished files (the live property: a scan exported a
moment ago shows on the next refresh), but listing a year of daily partitions of every
table costs tens of milliseconds. On a local disk, a partition directory's modification
time changes whenever a file is renamed into it or removed from it (that is how the
exporter and the compaction publish files), so a partition whose time is unchanged keeps
its last listing. (Object stores have neither directories nor their times.)

File systems stamp directories with a coarse clock, so a file added within the same tick
as our listing would leave the time unchanged; a partition modified in the last
:data:`HOT_SECONDS` is therefore listed again on every call ("racy" entries, as git calls
them). In practice that is today's partition and nothing else.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import defaultdict
from dataclasses import dataclass

import duckdb
from fsspec.implementations.arrow import ArrowFSWrapper

from kippu_contract.export_schema import TABLES
from kippu_contract.export_store import ExportStore, LastRun, is_published

#: Partitions modified this recently are listed on every call (see TableListing).
HOT_SECONDS = 2.0
#: Listings in a row that may each be overtaken by a published run before one is kept.
LISTING_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Partition:
    """One ``facility_id=<n>/date=<d>`` directory and its Parquet files (sorted)."""

    facility_id: int
    date: dt.date
    files: tuple[str, ...]


class ExportListing:
    """The partitions of every table of a store, with the files of published runs only."""

    def __init__(self, store: ExportStore) -> None:
        self.store = store
        self._tables = (
            {name: TableListing(store.path(name)) for name in TABLES}
            if store.local_dir is not None
            else None
        )

    def partitions(self) -> dict[str, dict[str, Partition]]:
        """Every table's partitions that hold a published file, by table and path."""
        last = self.store.last_run()
        for _ in range(LISTING_ATTEMPTS):
            listed = {name: self._list(name) for name in TABLES}
            again = self.store.last_run()
            if again == last:
                break
            last = again  # a run was published while listing: its files may be half there
        return {name: _published(parts, last) for name, parts in listed.items()}

    def _list(self, table: str) -> dict[str, Partition]:
        if self._tables is not None:
            return self._tables[table].partitions()
        files: dict[tuple[str, int, dt.date], list[str]] = defaultdict(list)
        for info in self.store.parquet_files(table):
            parent, date_dir = info.path.rsplit("/", 2)[:2]
            facility_id = _hive_value(parent.rsplit("/", 1)[-1], "facility_id")
            day = _hive_date(date_dir)
            if facility_id is not None and facility_id.isdigit() and day is not None:
                partition = info.path.rsplit("/", 1)[0]
                files[(partition, int(facility_id), day)].append(self.store.uri(info.path))
        return {
            self.store.uri(path): Partition(facility_id, day, tuple(sorted(names)))
            for (path, facility_id, day), names in files.items()
        }


def _published(partitions: dict[str, Partition], last: LastRun | None) -> dict[str, Partition]:
    kept = {}
    for path, p in partitions.items():
        files = tuple(f for f in p.files if is_published(f, last))
        if files == p.files:
            kept[path] = p
        elif files:
            kept[path] = Partition(p.facility_id, p.date, files)
    return kept


def attach_store(connection: duckdb.DuckDBPyConnection, store: ExportStore) -> None:
    """Let ``connection`` read a remote store's files by their ``s3://`` names.

    DuckDB cannot load its own S3 extension without the internet, so it reads through the
    store's pyarrow filesystem, wrapped for fsspec. One store per connection.
    """
    if store.local_dir is not None:
        return
    if connection.filesystem_is_registered("s3"):
        connection.unregister_filesystem("s3")
    connection.register_filesystem(_StoreFiles(store.filesystem))


class _StoreFiles(ArrowFSWrapper):
    """The store for DuckDB. Listed file names are taken as they are: the default would
    ask the store whether each exists before reading it (one request per file)."""

    def glob(self, path: str, **kwargs: object) -> list[str]:
        if not any(c in path for c in "*?["):
            return [path]
        return list(super().glob(path, **kwargs))


class TableListing:
    """The partitions of one local table directory, re-listing only those that changed."""

    def __init__(self, table_dir: str) -> None:
        self.table_dir = table_dir
        # path -> (mtime_ns when listed, partition)
        self._seen: dict[str, tuple[int, Partition]] = {}

    def partitions(self) -> dict[str, Partition]:
        """Every partition directory that holds at least one Parquet file, by path."""
        hot_after = time.time_ns() - int(HOT_SECONDS * 1e9)
        seen: dict[str, tuple[int, Partition]] = {}
        for facility_dir in _subdirs(self.table_dir):
            facility_id = _hive_value(facility_dir.name, "facility_id")
            if facility_id is None or not facility_id.isdigit():
                continue
            for date_dir in _subdirs(facility_dir.path):
                day = _hive_date(date_dir.name)
                if day is None:
                    continue
                mtime = date_dir.stat().st_mtime_ns
                old = self._seen.get(date_dir.path)
                if old is not None and old[0] == mtime and mtime < hot_after:
                    seen[date_dir.path] = old
                    continue
                files = tuple(sorted(_parquet_files(date_dir.path)))
                seen[date_dir.path] = (mtime, Partition(int(facility_id), day, files))
        self._seen = seen
        return {path: p for path, (_, p) in seen.items() if p.files}


def _subdirs(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return [e for e in entries if e.is_dir()]
    except FileNotFoundError:
        return []


def _parquet_files(path: str) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return [e.path for e in entries if e.name.endswith(".parquet") and e.is_file()]
    except FileNotFoundError:
        return []


def _hive_value(name: str, key: str) -> str | None:
    """The value of a hive directory name ``key=value``, or None for anything else."""
    prefix = key + "="
    return name[len(prefix) :] if name.startswith(prefix) else None


def _hive_date(name: str) -> dt.date | None:
    value = _hive_value(name, "date")
    try:
        return dt.date.fromisoformat(value) if value is not None else None
    except ValueError:
        return None
