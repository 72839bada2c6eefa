"""Streaming a query's rows as the database driver returns them, chunk by chunk.

SQLAlchemy builds the query and owns the connection, but its result layer (a ``Row``
object and type processing per row) cost nearly as much as reading the rows; the exporter
converts whole columns itself (:mod:`core_service.exports.batches`), so it reads plain
driver rows: tuples from sqlite3 (through aiosqlite), records from asyncpg.

The rows come from the driver's server-side cursor, through SQLAlchemy's adapted DBAPI
connection (the synchronous DBAPI interface over the async driver, usable inside
``AsyncConnection.run_sync``), so a first full export never holds more than one chunk
of Python rows, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core_service.exports.sources import Query


async def driver_rows(
    conn: AsyncConnection, query: Query, chunk_rows: int
) -> AsyncGenerator[tuple[list[str], Sequence[Sequence[Any]]]]:
    """Yield ``(column names, rows)`` of ``query`` in chunks of up to ``chunk_rows``."""
    # Literal values instead of bound parameters: the driver would need them in its own
    # form (text on SQLite), which the compiler renders from the column's type. The only
    # values are the exporter's own bounds, never outside input.
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = await conn.run_sync(_open_cursor, sql)
    try:
        names = [d[0] for d in cursor.description]
        while rows := await conn.run_sync(_fetch, cursor, chunk_rows):
            yield names, rows
    finally:
        await conn.run_sync(_close, cursor)


def _open_cursor(sync_conn: sa.Connection, sql: str) -> Any:
    # server_side: SQLAlchemy's asyncio adapters would otherwise fetch every row at once.
    cursor = sync_conn.connection.dbapi_connection.cursor(server_side=True)  # type: ignore[union-attr]
    cursor.execute(sql)
    return cursor


def _fetch(_sync_conn: sa.Connection, cursor: Any, size: int) -> Sequence[Sequence[Any]]:
    rows: Sequence[Sequence[Any]] = cursor.fetchmany(size)
    return rows


def _close(_sync_conn: sa.Connection, cursor: Any) -> None:
    cursor.close()
