"""The Alembic migrations are the schema: they must match the models exactly."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core_service.database import make_engine
from core_service.models import Base
from core_service.settings import Settings


def _differences(settings: Settings) -> list:
    async def run() -> list:
        engine = make_engine(settings)
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
        await engine.dispose()
        return diff

    return asyncio.run(run())


def test_migrated_sqlite_schema_matches_the_models(sqlite_settings: Settings) -> None:
    assert _differences(sqlite_settings) == []


@pytest.mark.postgres
def test_migrated_postgres_schema_matches_the_models(postgres_settings: Settings) -> None:
    assert _differences(postgres_settings) == []
