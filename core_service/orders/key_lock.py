"""One sale at a time per idempotency key, so a replay racing its original gets the order.

A kiosk sends a sale again with the same Idempotency-Key when the first answer is slow.
Without this, the two requests could run side by side: with one place left the first
takes it, the second is refused as sold out before the first has written its order, and
finds no order with its key to answer with; the kiosk then voids a payment whose order
stands. Holding a lock on the key while the places are taken and the order written means
the second request starts only after the first has committed (or failed): its refusal,
or its duplicate key, then finds the first order, and both answer with it.

- PostgreSQL: a session-level advisory lock on the sale's own connection (the two-key
  form: a namespace for kippu's sales and a 32-bit digest of facility and key; two keys
  sharing a digest only wait for each other). Two round trips, only for sales that carry
  a key; the lock is released even when the request is cancelled, so a pooled connection
  never keeps it.
- SQLite (one process: the demo, tests): an asyncio lock per key in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import weakref
from collections.abc import AsyncIterator

import anyio
from sqlalchemy.ext.asyncio import AsyncConnection

from core_service.platform.database import driver_connection

#: The first key of every sale lock: "kipp" (the advisory lock space is the database's).
NAMESPACE = 0x6B697070
_LOCK = "SELECT pg_advisory_lock($1, $2)"
_UNLOCK = "SELECT pg_advisory_unlock($1, $2)"

_local: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = weakref.WeakValueDictionary()


def lock_id(facility_id: int, key: str) -> int:
    """The second advisory key: a signed 32-bit digest of the facility and the key."""
    digest = hashlib.blake2b(f"{facility_id}:{key}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.asynccontextmanager
async def one_sale_per_key(
    connection: AsyncConnection, facility_id: int, key: str | None
) -> AsyncIterator[None]:
    """Hold the facility's lock on ``key`` for the block (nothing without a key)."""
    if not key:
        yield
        return
    if connection.dialect.name != "postgresql":
        lock = _local.setdefault((facility_id, key), asyncio.Lock())
        async with lock:
            yield
        return
    driver = await driver_connection(connection)
    second = lock_id(facility_id, key)
    await driver.execute(_LOCK, NAMESPACE, second)
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):
            await driver.execute(_UNLOCK, NAMESPACE, second)
