"""Incremental, append-only export of the OLTP database to hive-partitioned Parquet.

Each run reads, per table, the rows whose watermark column (``updated_at``; ``scanned_at``
for the append-only check-in log) is at or after the last high-water mark minus an
*overlap window*, and appends them as new Parquet files under
``<export_dir>/<table>/facility_id=<id>/date=<yyyy-mm-dd>/``.

Why the overlap: timestamps are taken when a transaction writes a row, but transactions
commit out of order, so a row stamped 10:00:01 can become visible after a row stamped
10:00:02 was already exported. Re-reading the last few seconds catches it. Rows seen in
that window are remembered as ``(id, watermark)`` pairs in the state file, so a re-read
row that did not change is not written again; a row that changed is written again, and
readers keep the newest version per id (``workbench.data_access`` does this).
:mod:`~core_service.exports.increments` keeps that bookkeeping.

The path of a row: the table's query (:mod:`~core_service.exports.sources`) is streamed
as plain driver rows in chunks of :data:`FETCH_ROWS` (:mod:`~core_service.exports.fetch`);
each chunk becomes an Arrow table of the export schema, column by column, partition date
included (:mod:`~core_service.exports.batches`); chunks are gathered up to ``batch_size``
rows and written by :mod:`~core_service.exports.writer` (DuckDB's ``COPY ...
PARTITION_BY`` into a staging directory, then renamed into place, so a reader never sees
a half-written file). The state file is saved only after the data files are in place:
a crash in between re-exports some rows, which the readers' de-duplication absorbs.

The database is read with SQLAlchemy (the core's async engine, run with ``asyncio.run``
by :func:`run_export`) on SQLite and PostgreSQL alike, not with DuckDB's database
scanners, which would need extensions downloaded at run time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core_service.exports import batches, sources
from core_service.exports.compaction import DEFAULT_MIN_FILES, compact_exports
from core_service.exports.fetch import driver_rows
from core_service.exports.increments import Increment
from core_service.exports.writer import STAGING_DIR, PartitionedWriter
from core_service.platform.database import make_engine
from core_service.platform.settings import Settings
from kippu_contract.export_schema import SCHEMA_VERSION, TABLES, ExportTable, manifest

log = logging.getLogger(__name__)

STATE_FILE = "_state.json"
MANIFEST_FILE = "_manifest.json"
LOCK_FILE = ".export.lock"
#: Touched at the end of every completed run: its modification time is that moment.
LAST_RUN_FILE = ".export.last"
#: How far before the high-water mark each run re-reads (see the module docstring).
DEFAULT_OVERLAP = dt.timedelta(seconds=30)
#: Rows gathered per written batch (one file per partition it touches), to bound memory
#: on a first full export. Arrow holds a row in ~100 bytes, so 200,000 rows are ~20 MB;
#: fewer, larger batches mean fewer DuckDB ``COPY`` calls and files to move and merge.
DEFAULT_BATCH_SIZE = 200_000
#: Rows fetched from the database at a time: the Python tuples of a chunk are short-lived.
FETCH_ROWS = 10_000


@dataclass(slots=True)
class ExportReport:
    """What one export run did."""

    export_dir: Path
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
            return f"export skipped: {self.export_dir} was exported moments ago"
        if self.skipped:
            return f"export skipped: another export is running in {self.export_dir}"
        counts = ", ".join(f"{name} {n}" for name, n in self.rows.items())
        return (
            f"exported {self.total_rows} rows ({counts}) in {self.files} files to "
            f"{self.export_dir} in {self.seconds:.2f} s; {self.compacted} partitions merged"
        )


def run_export(
    settings: Settings,
    *,
    overlap: dt.timedelta = DEFAULT_OVERLAP,
    batch_size: int = DEFAULT_BATCH_SIZE,
    compact_min_files: int = DEFAULT_MIN_FILES,
) -> ExportReport:
    """Export what changed since the last run; blocking (``kippu export`` calls this)."""
    return asyncio.run(
        export_async(
            settings,
            overlap=overlap,
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
    overlap: dt.timedelta = DEFAULT_OVERLAP,
    batch_size: int = DEFAULT_BATCH_SIZE,
    compact_min_files: int = DEFAULT_MIN_FILES,
    min_interval: float = 0.0,
) -> ExportReport:
    """The export itself, for callers that already run an event loop (the core's
    background work, :mod:`~core_service.exports.background`).

    ``min_interval``: do nothing when the last completed run, by any process, ended less
    than this many seconds ago. It is checked under the lock, so core workers that find
    an export due at the same moment export once between them.
    """
    assert settings.export_dir is not None  # filled in by Settings.__post_init__
    export_dir = Path(settings.export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    report = ExportReport(export_dir=export_dir)
    started = time.monotonic()
    with _exclusive(export_dir) as acquired:
        if not acquired:
            report.skipped, report.skip_reason = True, "locked"
            return report
        age = seconds_since_last_run(export_dir)
        if min_interval > 0 and age is not None and age < min_interval:
            report.skipped, report.skip_reason = True, "recent"
            return report
        own_engine = engine is None
        engine = engine or make_engine(settings)
        staging = export_dir / STAGING_DIR
        # Left over by a run that crashed; nobody else writes while we hold the lock.
        shutil.rmtree(staging, ignore_errors=True)
        writer = PartitionedWriter(export_dir)
        try:
            state = _load_state(export_dir)
            _write_json(export_dir / MANIFEST_FILE, manifest())
            unsaved = False
            async with engine.connect() as conn:
                zones = await _facility_zones(conn)
                for table in TABLES.values():
                    rows, table_state = await _export_table(
                        conn,
                        table,
                        state["tables"].get(table.name, {}),
                        overlap,
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
                        _write_json(export_dir / STATE_FILE, state, indent=None)
                        unsaved = False
            if unsaved:
                _write_json(export_dir / STATE_FILE, state, indent=None)
            report.files = writer.files
            report.compacted = await asyncio.to_thread(
                compact_exports, export_dir, staging, compact_min_files
            )
        finally:
            writer.close()
            shutil.rmtree(staging, ignore_errors=True)
            if own_engine:
                await engine.dispose()
        # Still under the lock, so a worker that takes it next sees this run's end.
        (export_dir / LAST_RUN_FILE).touch()
    report.seconds = time.monotonic() - started
    return report


def seconds_since_last_run(export_dir: Path) -> float | None:
    """Seconds since the last completed run into ``export_dir`` ended; None if none did."""
    try:
        stamp = (export_dir / LAST_RUN_FILE).stat().st_mtime
    except FileNotFoundError:
        return None
    return max(0.0, time.time() - stamp)


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
    overlap: dt.timedelta,
    zones: dict[int, ZoneInfo],
    writer: PartitionedWriter,
    batch_size: int,
) -> tuple[int, dict[str, Any]]:
    increment = Increment(table_state, overlap)
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
            chunk = batches.to_arrow(
                table,
                names,
                rows,
                partition_source=date_source,
                zones=zones,
                json_columns=sources.JSON_COLUMNS.get(table.name, ()),
            )
            keep = increment.admit(chunk["id"], chunk[table.watermark_column])
            if keep is not None:
                chunk = chunk.filter(keep)
            if chunk.num_rows:
                gathered.append(chunk)
            if sum(c.num_rows for c in gathered) >= batch_size:
                await flush()
    if gathered:
        await flush()
    return written, increment.state()


def _load_state(export_dir: Path) -> dict[str, Any]:
    path = export_dir / STATE_FILE
    if not path.exists():
        return {"schema_version": SCHEMA_VERSION, "tables": {}}
    state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if state.get("schema_version") != SCHEMA_VERSION:
        raise RuntimeError(
            f"{path} was written for export schema {state.get('schema_version')}, this is "
            f"{SCHEMA_VERSION}: export into a new directory (see docs/exports.md)"
        )
    state.setdefault("tables", {})
    return state


def _write_json(path: Path, data: dict[str, Any], indent: int | None = 2) -> None:
    """Replace ``path`` atomically; ``indent=None`` for large files (json's C encoder)."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=indent, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def _exclusive(export_dir: Path) -> Iterator[bool]:
    """Yield True when this process got the export lock, False when another run holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process lock
        yield True
        return
    with open(export_dir / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
