"""A database that drops away (a PostgreSQL restart, a fail-over): pooled connections the
server closed are replaced before a request meets them, and while the server cannot be
reached requests answer 503 with Retry-After and a clear message, never a 500."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg
import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.app import create_app
from core_service.platform.errors import database_unavailable
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.live_server import free_port

pytestmark = pytest.mark.postgres


async def _drop_every_connection_of(settings: Settings) -> int:
    """What a server restart does to the app's pooled connections: every backend of the
    database ends, and this waits until they have (termination is asynchronous)."""
    url = settings.database_url.replace("+asyncpg", "")
    database = url.rsplit("/", 1)[1]
    others = "datname = $1 AND pid <> pg_backend_pid()"
    conn = await asyncpg.connect(url)
    try:
        pids = [
            row["pid"]
            for row in await conn.fetch(
                f"SELECT pid FROM pg_stat_activity WHERE {others}", database
            )
        ]
        await conn.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", pids)
        for _ in range(100):
            alive = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", pids
            )
            if alive == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    await asyncio.sleep(0.2)  # the app's event loop reads the closed sockets' end
    return len(pids)


async def test_connections_closed_by_the_server_are_replaced(postgres_settings: Settings) -> None:
    demo = await seed_demo(postgres_settings)
    app = create_app(postgres_settings, background=False)
    headers = {"Authorization": f"Bearer {demo.kiosk_token}"}
    async with AsyncTestClient(app=app) as client:
        # Warm the pool, so the next request would meet a connection the server dropped.
        for _ in range(3):
            assert (await client.get("/api/v1/kiosk/catalog", headers=headers)).status_code == 200
        assert await _drop_every_connection_of(postgres_settings) >= 1
        for _ in range(3):
            response = await client.get("/api/v1/kiosk/catalog", headers=headers)
            assert response.status_code == 200, response.text


async def test_an_unreachable_database_answers_503(postgres_settings: Settings) -> None:
    await seed_demo(postgres_settings)
    nowhere = dataclasses.replace(
        postgres_settings,
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/kippu",
    )
    app = create_app(nowhere, background=False)
    async with AsyncTestClient(app=app) as client:
        for path, accept in (
            ("/api/v1/kiosk/catalog", "application/json"),
            ("/shop/demo", "text/html"),
        ):
            response = await client.get(
                path,
                headers={"Authorization": "Bearer x", "Accept": accept, "Accept-Language": "en"},
            )
            assert response.status_code == 503, (path, response.text)
            assert response.headers["Retry-After"] == "5"
            assert "try again in a few seconds" in response.text
            assert "Traceback" not in response.text and "asyncpg" not in response.text


def test_errors_that_mean_the_database_is_away_are_told_apart() -> None:
    invalidated = sa.exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    assert database_unavailable(invalidated)
    assert database_unavailable(ConnectionRefusedError(111, "refused"))
    assert database_unavailable(asyncpg.exceptions.CannotConnectNowError("starting up"))
    wrapped = sa.exc.OperationalError("x", {}, asyncpg.exceptions.AdminShutdownError("bye"))
    assert database_unavailable(wrapped)
    # A programming or data error is a 500 (a bug to fix), not an outage.
    assert not database_unavailable(sa.exc.ProgrammingError("x", {}, Exception("syntax")))
    assert not database_unavailable(asyncpg.exceptions.UniqueViolationError("dup"))
    assert not database_unavailable(ValueError("nope"))
