"""Engine and session factory for the OLTP database, and schema upgrades via Alembic.

The schema is made only by the Alembic migrations in ``core_service/migrations``;
``upgrade_database`` runs them programmatically (``kippu db upgrade`` calls it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core_service.platform.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"


def _ensure_sqlite_directory(settings: Settings) -> None:
    if settings.is_sqlite:
        db_path = settings.database_url.split(":///", 1)[1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)


def make_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if settings.is_sqlite:
        _ensure_sqlite_directory(settings)
        engine = create_async_engine(settings.database_url, connect_args={"timeout": 30}, **kwargs)

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # Connections beyond pool_size are closed when returned, and a new one costs a
    # connect, a server process and asyncpg's type introspection: under an onsale an
    # overflow meant connections made and dropped all the time (the onsale benchmark
    # measured 10-15% more CPU per order with 20 + 10 than with 30 + 0). So every
    # connection stays pooled, and a burst waits for one instead. 15 per worker: with
    # two workers as many as the raw-limit loop uses, and no slower than 30, because
    # more backends only queue on the same hot capacity row (docs/benchmarks.md). A
    # request holds at most one at a time (a sale ends its session's transaction
    # before it takes places), so waiting cannot deadlock.
    kwargs.setdefault("pool_size", 15)
    kwargs.setdefault("max_overflow", 0)
    # No pre-ping: it costs two round trips per checkout on every request; the checkout
    # hook below replaces the connections a server restart closed, for free.
    kwargs.setdefault("pool_recycle", 1800)
    engine = create_async_engine(settings.database_url, **kwargs)

    @sa.event.listens_for(engine.sync_engine, "checkout")
    def _replace_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # A restarted or failed-over server closes every pooled connection; asyncpg sees
        # the socket close while the connection idles and marks it closed. Checking that
        # flag costs no round trip (unlike pre-ping), and DisconnectionError makes the
        # pool replace the connection instead of failing a request with it (the hot
        # statements run on the driver directly, where SQLAlchemy cannot invalidate it).
        if dbapi_connection.driver_connection.is_closed():
            raise sa.exc.DisconnectionError("the server closed this pooled connection")

    return engine


async def driver_connection(connection: AsyncConnection) -> Any:
    """The asyncpg connection under a SQLAlchemy connection, for prebuilt hot statements
    (the device lookup, the reservation, the order): SQLAlchemy's statement execution
    costs more than running them."""
    return (await connection.get_raw_connection()).driver_connection


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Percent signs in URLs (encoded passwords) would be read as interpolation.
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


def is_kippu_schema_object(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name``: everything but the job queue's own tables, which
    procrastinate defines (migration 0012_job_queue) and the models do not."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def upgrade_database(settings: Settings, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` (default: every head, the newest)."""
    _ensure_sqlite_directory(settings)
    command.upgrade(alembic_config(settings), revision)


def bound_engine(session: AsyncSession) -> AsyncEngine:
    """The engine a session of kippu's sessionmaker is bound to (it always is)."""
    bind = session.bind
    if not isinstance(bind, AsyncEngine):
        raise TypeError("kippu sessions are bound to an engine")
    return bind


async def insert_or_ignore(
    session: AsyncSession | AsyncConnection, model: type[Any], **values: Any
) -> None:
    """INSERT that silently does nothing when a unique key exists already.

    Get-or-create without a race: concurrent requests may both try, one row survives,
    and neither transaction fails.
    """
    await insert_many_or_ignore(session, model, [values])


async def insert_many_or_ignore(
    session: AsyncSession | AsyncConnection, model: type[Any], rows: list[dict[str, Any]]
) -> None:
    """:func:`insert_or_ignore` of each of ``rows`` (all with the same keys), in one
    executemany round trip."""
    if not rows:
        return
    dialect = (
        session.dialect if isinstance(session, AsyncConnection) else bound_engine(session).dialect
    )
    insert = pg_insert if dialect.name == "postgresql" else sqlite_insert
    if len(rows) == 1:
        await session.execute(insert(model).values(**rows[0]).on_conflict_do_nothing())
    else:
        await session.execute(insert(model).on_conflict_do_nothing(), rows)


def affected_rows(result: sa.Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (its result is a CursorResult, which
    carries the count; SQLAlchemy types ``execute`` as returning the general Result)."""
    return cast("sa.CursorResult[Any]", result).rowcount


async def updated_one(session: AsyncSession, statement: sa.Update) -> bool:
    """Run a conditional UPDATE; whether it changed exactly one row (the state machines'
    test of "moved", see docs/states.md)."""
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return affected_rows(result) == 1
