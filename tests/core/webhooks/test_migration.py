"""Migration 0012 goes up, down and up again on both databases, its trigger with it."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import command

from core_service.platform.database import alembic_config, make_engine, upgrade_database
from core_service.platform.settings import Settings


def _tables_and_triggers(settings: Settings) -> tuple[set[str], set[str]]:
    async def read() -> tuple[set[str], set[str]]:
        engine = make_engine(settings)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
            sql = (
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
                if engine.dialect.name == "postgresql"
                else "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            )
            triggers = set((await conn.scalars(sa.text(sql))).all())
        await engine.dispose()
        return {t for t in tables if t.startswith("webhook_")}, {
            t for t in triggers if t.startswith("webhook_")
        }

    return asyncio.run(read())


def test_0012_upgrades_downgrades_and_upgrades_again(empty_db_settings: Settings) -> None:
    settings = empty_db_settings
    upgrade_database(settings, "0013_webhooks")
    tables, triggers = _tables_and_triggers(settings)
    assert tables == {"webhook_endpoint", "webhook_event", "webhook_delivery", "webhook_attempt"}
    assert triggers  # the endpoint table moves the facility's version
    command.downgrade(alembic_config(settings), "0011_payment_refund_due")
    assert _tables_and_triggers(settings) == (set(), set())
    upgrade_database(settings, "0013_webhooks")
    assert _tables_and_triggers(settings) == (tables, triggers)
