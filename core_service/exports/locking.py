"""One export run at a time per export location, across processes and machines.

- A local export directory is locked with a file lock in it (:data:`LOCK_FILE`), as
  always: every exporter that writes there sees the same disk.
- An object store has no file locks, and its exporters may run on several machines. With
  PostgreSQL the run holds a session-level advisory lock (``pg_try_advisory_lock``) on
  a connection of the exporter's own engine, keyed by the location
  (:func:`lock_key`); PostgreSQL lets it go when the run unlocks or its connection ends,
  so a crashed exporter never leaves it held. This needs a session of its own for the
  run: a transaction-mode pooler in front of PostgreSQL (PgBouncer) would break it.
- SQLite lives in one file on one machine, so its exporters do too: an object store
  exported from SQLite is locked with a file lock beside the database file.

Every lock is tried, never waited for: a run that finds it held does nothing (``skipped``).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from core_service.platform.settings import Settings
from kippu_contract.export_store import ExportStore

#: The lock file of a local export directory (and beside a SQLite database, with it as prefix).
LOCK_FILE = ".export.lock"


@contextlib.asynccontextmanager
async def export_lock(
    store: ExportStore, settings: Settings, engine: AsyncEngine
) -> AsyncIterator[bool]:
    """Yield True when this run may export into ``store``, False when another one is."""
    if store.local_dir is not None:
        with directory_lock(store.local_dir) as acquired:
            yield acquired
    elif engine.dialect.name == "postgresql":
        async with advisory_lock(engine, lock_key(store.url)) as acquired:
            yield acquired
    else:
        with file_lock(_beside_database(settings)) as acquired:
            yield acquired


def directory_lock(export_dir: Path) -> contextlib.AbstractContextManager[bool]:
    """The file lock of a local export directory."""
    return file_lock(export_dir / LOCK_FILE)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[bool]:
    """Yield True when this process got the lock on ``path``, False when another holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process lock
        yield True
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.asynccontextmanager
async def advisory_lock(engine: AsyncEngine, key: int) -> AsyncIterator[bool]:
    """Yield whether this session got PostgreSQL's advisory lock ``key``, holding it."""
    async with engine.connect() as conn:
        # Autocommit: the lock belongs to the session, and an idle open transaction held
        # for the whole run could be ended by idle_in_transaction_session_timeout.
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        acquired = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
        try:
            yield acquired
        finally:
            if acquired:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def lock_key(location: str) -> int:
    """The advisory lock key of an export location: a signed 64-bit hash of its URL."""
    digest = hashlib.sha256(f"kippu export {location}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _beside_database(settings: Settings) -> Path:
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        return settings.var_dir / LOCK_FILE
    return Path(database).with_name(Path(database).name + LOCK_FILE)
