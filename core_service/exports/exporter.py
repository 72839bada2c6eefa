"""Incremental, append-only export of the OLTP database to hive-partitioned Parquet.

Each run reads, per table, the rows whose ``export_seq`` (a per-row change sequence,
:mod:`core_service.models.export_seq`) is at or above the bound the last run saved, and
appends them as new Parquet files under
``<store>/<table>/facility_id=<id>/date=<yyyy-mm-dd>/``; the store is a local directory
or an S3-compatible bucket (``settings.export_location``, :mod:`~core_service.exports.storage`).

Why a sequence and not a timestamp: timestamps are taken when a transaction writes a
row, but transactions commit out of order, and a gate's offline scans arrive hours after
their time; a row stamped before the last export could become visible after it. The
bound is taken from the database itself before each table is read, so a row committed
later always lands at or above it. Rows read at or above the new bound are remembered as
``(id, export_seq)`` pairs in the state file, so the next run, which reads them again,
does not write them twice; a row that changed is written again, and readers keep the
newest version per id (``workbench.data_access`` does this).
:mod:`~core_service.exports.increments` keeps that bookkeeping.

The path of a row: the table's query (:mod:`~core_service.exports.sources`) is streamed
as plain driver rows in chunks of :data:`FETCH_ROWS` (:mod:`~core_service.exports.fetch`);
each chunk becomes an Arrow table of the export schema, column by column, partition date
included (:mod:`~core_service.exports.batches`); chunks are gathered up to ``batch_size``
rows and written by :mod:`~core_service.exports.writer` (DuckDB's ``COPY ...
PARTITION_BY`` into a staging directory, then published whole). The state file is saved
only after the data files are in place: a crash in between re-exports some rows, which
the readers' de-duplication absorbs.

A run's files carry its run id and stay invisible to readers until the run publishes
them all at once, by replacing the stamp ``.export.last`` (see
:mod:`kippu_contract.export_store`); only then are small files merged
(:mod:`~core_service.exports.compaction`). Runs into one store are serialised by
:mod:`~core_service.exports.locking` (a lock file locally, PostgreSQL's advisory lock for
an object store).

The database is read with SQLAlchemy (the core's async engine, run with ``asyncio.run``
by :func:`run_export`) on SQLite and PostgreSQL alike, not with DuckDB's database
scanners, which would need extensions downloaded at run time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core_service.exports import batches, sources, storage
from core_service.exports.compaction import DEFAULT_MIN_FILES, compact_exports
from core_service.exports.fetch import driver_rows
from core_service.exports.increments import Increment
from core_service.exports.locking import LOCK_FILE, export_lock
from core_service.exports.writer import PartitionedWriter
from core_service.platform.database import make_engine
from core_service.platform.settings import Settings
from kippu_contract.export_schema import SCHEMA_VERSION, TABLES, ExportTable, manifest
from kippu_contract.export_store import LAST_RUN_FILE, ExportStore, new_run_id

log = logging.getLogger(__name__)

__all__ = [
    "LAST_RUN_FILE",
    "LOCK_FILE",
    "MANIFEST_FILE",
    "STATE_FILE",
    "ExportReport",
    "export_async",
    "follow_exports",
    "run_export",
    "seconds_since_last_run",
]

STATE_FILE = "_state.json"
MANIFEST_FILE = "_manifest.json"
#: Rows gathered per written batch (one file per partition it touches), to bound memory
#: on a first full export. Arrow holds a row in ~100 bytes, so 200,000 rows are ~20 MB;
#: fewer, larger batches mean fewer DuckDB ``COPY`` calls and files to move and merge.
DEFAULT_BATCH_SIZE = 200_000
#: Rows fetched from the database at a time: the Python tuples of a chunk are short-lived.
FETCH_ROWS = 10_000


@dataclass(slots=True)
class ExportReport:
    """What one export run did."""

    #: The export directory, or the ``s3://`` URL.
    location: str
    #: Rows written per table (0 when nothing changed).
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    #: Partitions whose small files were merged into one after this run.
    compacted: int = 0
    #: True when this run did nothing: another export held the lock, or (with
    #: ``min_interval``) the last run had ended too recently.
    skipped: bool = False
    #: Why it was skipped: ``"locked"`` or ``"recent"``.
    skip_reason: str = ""
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def __str__(self) -> str:
        if self.skip_reason == "recent":
            return f"export skipped: {self.location} was exported moments ago"
        if self.skipped:
            return f"export skipped: another export is running in {self.location}"
        counts = ", ".join(f"{name} {n}" for name, n in self.rows.items())
        return (
            f"exported {self.total_rows} rows ({counts}) in {self.files} files to "
            f"{self.location} in {self.seconds:.2f} s; {self.compacted} partitions merged"
        )


def run_export(
    settings: Settings,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    compact_min_files: int = DEFAULT_MIN_FILES,
) -> ExportReport:
    """Export what changed since the last run; blocking (``kippu export`` calls this)."""
    return asyncio.run(
        export_async(
            settings,
            batch_size=batch_size,
            compact_min_files=compact_min_files,
        )
    )


def follow_exports(
    settings: Settings,
    *,
    interval_seconds: float = 5.0,
    stop: threading.Event | None = None,
    on_report: Callable[[ExportReport], None] | None = None,
) -> None:
    """Export every ``interval_seconds`` until ``stop`` is set (``kippu export --follow``).

    A failing run is logged and retried at the next tick, so a database restart does not
    end the follower.
    """
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            report = run_export(settings)
        except Exception:
            log.exception("export run failed; retrying in %s s", interval_seconds)
        else:
            if on_report is not None:
                on_report(report)
        stop.wait(interval_seconds)


async def export_async(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    compact_min_files: int = DEFAULT_MIN_FILES,
    min_interval: float = 0.0,
) -> ExportReport:
    """The export itself, for callers that already run an event loop (the core's
    background work, the `export` job of :mod:`core_service.jobs`).

    ``min_interval``: do nothing when the last completed run, by any process, ended less
    than this many seconds ago. It is checked under the lock, so core workers that find
    an export due at the same moment export once between them.
    """
    store = storage.export_store(settings)
    if store.local_dir is not None:
        store.local_dir.mkdir(parents=True, exist_ok=True)
    report = ExportReport(location=store.url)
    started = time.monotonic()
    own_engine = engine is None
    engine = engine or make_engine(settings)
    try:
        async with export_lock(store, settings, engine) as acquired:
            if not acquired:
                report.skipped, report.skip_reason = True, "locked"
                return report
            age = await asyncio.to_thread(seconds_since_last_run, store)
            if min_interval > 0 and age is not None and age < min_interval:
                report.skipped, report.skip_reason = True, "recent"
                return report
            await _run(store, engine, report, batch_size, compact_min_files)
    finally:
        if own_engine:
            await engine.dispose()
    report.seconds = time.monotonic() - started
    return report


async def _run(
    store: ExportStore,
    engine: AsyncEngine,
    report: ExportReport,
    batch_size: int,
    compact_min_files: int,
) -> None:
    """One run under the lock: write, publish, then merge small files."""
    state = await asyncio.to_thread(_load_state, store)
    last = await asyncio.to_thread(store.last_run)
    # After the last published run and the last run that saved state (it may have crashed
    # before publishing: its files become visible with this run's).
    previous = [r for r in (state.get("run"), last.run_id if last else None) if r]
    run_id = new_run_id(after=max(previous, default=None))
    state["run"] = run_id
    staging = await asyncio.to_thread(storage.staging_dir, store)
    writer = PartitionedWriter(store, staging, run_id)
    try:
        await asyncio.to_thread(_write_json, store, MANIFEST_FILE, manifest())
        unsaved = False
        async with engine.connect() as conn:
            zones = await _facility_zones(conn)
            for table in TABLES.values():
                rows, table_state = await _export_table(
                    conn,
                    table,
                    state["tables"].get(table.name, {}),
                    zones,
                    writer,
                    batch_size,
                )
                report.rows[table.name] = rows
                if table_state != state["tables"].get(table.name):
                    state["tables"][table.name] = table_state
                    unsaved = True
                if rows and unsaved:
                    # Saved once a table's files are in place (see the module docstring);
                    # a table that wrote nothing can wait for the end of the run.
                    await asyncio.to_thread(_write_json, store, STATE_FILE, state, None)
                    unsaved = False
        if unsaved:
            await asyncio.to_thread(_write_json, store, STATE_FILE, state, None)
        report.files = writer.files
        # Readers see every file of the run from here on, and the next worker that takes
        # the lock sees that the run ended.
        await asyncio.to_thread(storage.publish_last_run, store, run_id)
        report.compacted = await asyncio.to_thread(
            compact_exports, store, staging, compact_min_files
        )
    finally:
        writer.close()
        shutil.rmtree(staging, ignore_errors=True)


def seconds_since_last_run(store: ExportStore | os.PathLike[str]) -> float | None:
    """Seconds since the last completed run into ``store`` ended; None if none did."""
    if not isinstance(store, ExportStore):
        store = ExportStore.open(store)
    last = store.last_run()
    return None if last is None else max(0.0, time.time() - last.ended_at)


async def _facility_zones(conn: AsyncConnection) -> dict[int, ZoneInfo]:
    zones: dict[int, ZoneInfo] = {}
    for facility_id, name in (await conn.execute(sources.facility_timezones_query())).all():
        try:
            zones[facility_id] = ZoneInfo(name)
        except (KeyError, ValueError):
            log.warning("facility %s has an unknown time zone %r", facility_id, name)
    return zones


async def _export_table(
    conn: AsyncConnection,
    table: ExportTable,
    table_state: dict[str, Any],
    zones: dict[int, ZoneInfo],
    writer: PartitionedWriter,
    batch_size: int,
) -> tuple[int, dict[str, Any]]:
    # Before the read: every row below the bound is visible to it (see the docstring).
    bound = (await conn.execute(sources.bound_query(table.name, conn.dialect.name))).scalar_one()
    increment = Increment(table_state, int(bound))
    query = sources.changed_since(table.name, increment.lower)
    date_source = sources.partition_source(table.name)
    gathered: list[pa.Table] = []
    written = 0

    async def flush() -> None:
        nonlocal written
        batch = pa.concat_tables(gathered)
        gathered.clear()
        # DuckDB and the file moves block; keep the caller's event loop responsive.
        written += await asyncio.to_thread(writer.write, table, batch)

    # aclosing: the cursor is closed here even when a write fails half-way.
    async with contextlib.aclosing(driver_rows(conn, query, min(FETCH_ROWS, batch_size))) as chunks:
        async for names, rows in chunks:
            # The last column is export_seq, which is not exported.
            assert names[-1] == sources.SEQ_COLUMN
            seqs = pa.array([row[-1] for row in rows], pa.int64())
            chunk = batches.to_arrow(
                table,
                names[:-1],
                rows,
                partition_source=date_source,
                zones=zones,
                json_columns=sources.JSON_COLUMNS.get(table.name, ()),
            )
            keep = increment.admit(chunk["id"], seqs)
            if keep is not None:
                chunk = chunk.filter(keep)
            if chunk.num_rows:
                gathered.append(chunk)
            if sum(c.num_rows for c in gathered) >= batch_size:
                await flush()
    if gathered:
        await flush()
    return written, increment.state()


def _load_state(store: ExportStore) -> dict[str, Any]:
    content = store.read_bytes(STATE_FILE)
    if content is None:
        return {"schema_version": SCHEMA_VERSION, "tables": {}}
    state: dict[str, Any] = json.loads(content)
    if state.get("schema_version") != SCHEMA_VERSION:
        raise RuntimeError(
            f"{store.path(STATE_FILE)} was written for export schema "
            f"{state.get('schema_version')}, this is {SCHEMA_VERSION}: export into a new "
            "directory (see docs/exports.md)"
        )
    state.setdefault("tables", {})
    return state


def _write_json(
    store: ExportStore, name: str, data: dict[str, Any], indent: int | None = 2
) -> None:
    """Replace ``name`` atomically; ``indent=None`` for large files (json's C encoder)."""
    storage.write_bytes(store, name, json.dumps(data, indent=indent, sort_keys=True).encode())
