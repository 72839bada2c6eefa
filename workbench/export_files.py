"""Listing an export table's Parquet files, partition by partition, cheaply and repeatedly.

Every refresh must notice new and vanished files (the live property: a scan exported a
moment ago shows on the next refresh), but listing a year of daily partitions of every
table costs tens of milliseconds. A partition directory's modification time changes
whenever a file is renamed into it or removed from it (that is how the exporter and the
compaction publish files), so a partition whose time is unchanged keeps its last listing.

File systems stamp directories with a coarse clock, so a file added within the same tick
as our listing would leave the time unchanged; a partition modified in the last
:data:`HOT_SECONDS` is therefore listed again on every call ("racy" entries, as git calls
them). In practice that is today's partition and nothing else.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass

#: Partitions modified this recently are listed on every call (see the module docstring).
HOT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Partition:
    """One ``facility_id=<n>/date=<d>`` directory and its Parquet files (sorted)."""

    facility_id: int
    date: dt.date
    files: tuple[str, ...]


class TableListing:
    """The partitions of one table directory, re-listing only those that changed."""

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
