"""The Alembic migrations are the schema: they must match the models exactly."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core_service.models import Base
from core_service.platform.database import make_engine
from core_service.platform.settings import Settings


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


def test_passes_used_up_by_old_gates_are_valid_again_after_0009(tmp_path) -> None:  # noqa: ANN001
    """Before passes admitted once a day, a scan used a pass up like a single ticket."""
    from core_service.demo.data import seed_demo_facility
    from core_service.models import Order, OrderLine, Ticket
    from core_service.platform.database import make_sessionmaker, upgrade_database

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/old.sqlite3", secret_key="k" * 32
    )
    upgrade_database(settings, "0008_staff_login_failures")

    async def seed_used_tickets() -> tuple[int, int]:
        engine = make_engine(settings)
        async with make_sessionmaker(engine)() as session:
            demo = await seed_demo_facility(session, settings.secret_key)
            order = Order(
                facility_id=demo.facility_id, code="OLDPASS", channel="web", access_key="k"
            )
            session.add(order)
            await session.flush()
            ids = []
            for product_id, category_id in (
                (demo.annual_pass_id, demo.pass_adult_category_id),
                (demo.day_ticket_id, demo.adult_category_id),
            ):
                line = OrderLine(
                    facility_id=demo.facility_id, order_id=order.id, product_id=product_id,
                    price_category_id=category_id, product_name_ja="x", product_name_en="x",
                    category_name_ja="x", category_name_en="x", quantity=1, unit_price=1,
                    tax_rate=10, line_total=1,
                )  # fmt: skip
                session.add(line)
                await session.flush()
                ticket = Ticket(
                    facility_id=demo.facility_id, order_id=order.id, order_line_id=line.id,
                    product_id=product_id, price_category_id=category_id, status="used",
                    valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31),
                    uses_total=1, uses_left=0,
                )  # fmt: skip
                session.add(ticket)
                await session.flush()
                ids.append(ticket.id)
            await session.commit()
        await engine.dispose()
        return ids[0], ids[1]

    async def statuses() -> dict[int, tuple[str, int]]:
        engine = make_engine(settings)
        async with make_sessionmaker(engine)() as session:
            rows = await session.execute(sa.select(Ticket.id, Ticket.status, Ticket.uses_left))
            found = {row.id: (row.status, row.uses_left) for row in rows}
        await engine.dispose()
        return found

    pass_id, day_id = asyncio.run(seed_used_tickets())
    upgrade_database(settings)
    after = asyncio.run(statuses())
    assert after[pass_id] == ("valid", 1)  # the pass admits again
    assert after[day_id] == ("used", 0)  # a used day ticket stays used
