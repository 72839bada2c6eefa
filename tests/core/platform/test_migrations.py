"""The Alembic migrations are the schema: they must match the models exactly."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncConnection

from core_service.demo.data import DemoFacility
from core_service.models import Base
from core_service.platform.database import is_kippu_schema_object, make_engine
from core_service.platform.settings import Settings

T = TypeVar("T")


def _differences(settings: Settings) -> list:
    async def run() -> list:
        engine = make_engine(settings)
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"include_name": is_kippu_schema_object}),
                    Base.metadata,
                )
            )
        await engine.dispose()
        return diff

    return asyncio.run(run())


# -- seeding an old schema ---------------------------------------------------------------
# Old-era rows cannot be written with today's models: a column added later would be in
# every INSERT. The demo facility is seeded at the newest schema and the database taken
# down to the old revision (downgrades keep the rows); old-era rows are then inserted
# through tables reflected from the old schema, naming only the columns they need.


def _demo_at(settings: Settings, revision: str) -> DemoFacility:
    """The demo facility in a database migrated down to ``revision``."""
    from core_service.demo.data import seed_demo_facility
    from core_service.platform.database import alembic_config, make_sessionmaker, upgrade_database

    upgrade_database(settings)

    async def seed() -> DemoFacility:
        engine = make_engine(settings)
        async with make_sessionmaker(engine)() as session:
            demo = await seed_demo_facility(session, settings.secret_key)
            await session.commit()
        await engine.dispose()
        return demo

    demo = asyncio.run(seed())
    command.downgrade(alembic_config(settings), revision)
    return demo


async def _insert(connection: AsyncConnection, table_name: str, **values: Any) -> int:
    """Insert one row into the table as the database has it now; its id. Columns not
    given take today's model defaults where the model has one (``created_at``, ...)."""
    table = await connection.run_sync(
        lambda sync: sa.Table(table_name, sa.MetaData(), autoload_with=sync)
    )
    model = Base.metadata.tables[table_name]
    for column in table.c:
        default = model.c[column.name].default if column.name in model.c else None
        if column.name in values or default is None:
            continue
        values[column.name] = default.arg(None) if default.is_callable else default.arg
    result = await connection.execute(sa.insert(table).values(**values).returning(table.c.id))
    return int(result.scalar_one())


def _insert_rows(settings: Settings, write: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = make_engine(settings)
        async with engine.begin() as connection:
            found = await write(connection)
        await engine.dispose()
        return found

    return asyncio.run(run())


def test_migrated_sqlite_schema_matches_the_models(sqlite_settings: Settings) -> None:
    assert _differences(sqlite_settings) == []


@pytest.mark.postgres
def test_migrated_postgres_schema_matches_the_models(postgres_settings: Settings) -> None:
    assert _differences(postgres_settings) == []


def test_passes_used_up_by_old_gates_are_valid_again_after_0009(tmp_path) -> None:  # noqa: ANN001
    """Before passes admitted once a day, a scan used a pass up like a single ticket."""
    from core_service.models import Ticket
    from core_service.platform.database import make_sessionmaker, upgrade_database

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/old.sqlite3", secret_key="k" * 32
    )
    demo = _demo_at(settings, "0008_staff_login_failures")

    async def seed_used_tickets(connection: AsyncConnection) -> tuple[int, int]:
        order_id = await _insert(
            connection, "orders", facility_id=demo.facility_id, code="OLDPASS", channel="web",
            access_key="k",
        )  # fmt: skip
        ids = []
        for product_id, category_id in (
            (demo.annual_pass_id, demo.pass_adult_category_id),
            (demo.day_ticket_id, demo.adult_category_id),
        ):
            line_id = await _insert(
                connection, "order_line", facility_id=demo.facility_id, order_id=order_id,
                product_id=product_id, price_category_id=category_id, product_name_ja="x",
                product_name_en="x", category_name_ja="x", category_name_en="x", quantity=1,
                unit_price=1, tax_rate=10, line_total=1,
            )  # fmt: skip
            ticket_id = await _insert(
                connection, "ticket", facility_id=demo.facility_id, order_id=order_id,
                order_line_id=line_id, product_id=product_id, price_category_id=category_id,
                status="used", valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31),
                uses_total=1, uses_left=0,
            )  # fmt: skip
            ids.append(ticket_id)
        return ids[0], ids[1]

    async def statuses() -> dict[int, tuple[str, int]]:
        engine = make_engine(settings)
        async with make_sessionmaker(engine)() as session:
            rows = await session.execute(sa.select(Ticket.id, Ticket.status, Ticket.uses_left))
            found = {row.id: (row.status, row.uses_left) for row in rows}
        await engine.dispose()
        return found

    pass_id, day_id = _insert_rows(settings, seed_used_tickets)
    upgrade_database(settings)
    after = asyncio.run(statuses())
    assert after[pass_id] == ("valid", 1)  # the pass admits again
    assert after[day_id] == ("used", 0)  # a used day ticket stays used


#: Payments as the code before 0011 left them: (state, data, events after the pending one).
BEFORE_0011: dict[str, tuple[str, dict, list[tuple[str, str, dict]]]] = {
    "sold_out": ("paid", {"needs_refund": True, "reason": "order expired"}, [("pending", "paid", {})]),
    "paid_twice": ("paid", {"needs_refund": True, "reason": "order paid"}, [("pending", "paid", {})]),
    "reacquired": ("paid", {"reacquired": True}, [("pending", "paid", {"provider_ref": "r"})]),
    "paid_after_failure": (
        "failed",
        {"next_action": {"kind": "qr", "url": "u", "data": {}}},
        [
            ("pending", "failed", {"reason": "superseded by a new attempt"}),
            ("failed", "failed", {"note": "paid_after_failure", "needs_refund": True}),
        ],
    ),
    "failed": ("failed", {"start_error": "unavailable"}, [("pending", "failed", {})]),
    "paid": ("paid", {"next_action": {"kind": "redirect", "url": "u", "data": {}}}, []),
}  # fmt: skip


def _seed_before_0011(settings: Settings) -> dict[str, int]:
    demo = _demo_at(settings, "0010_facility_config_version")

    async def seed(connection: AsyncConnection) -> dict[str, int]:
        ids = {}
        for name, (state, data, events) in BEFORE_0011.items():
            order_id = await _insert(
                connection, "orders", facility_id=demo.facility_id, code=name[:16].upper(),
                channel="web", access_key="k",
                status="expired" if name == "sold_out" else "paid",
            )  # fmt: skip
            payment_id = await _insert(
                connection, "payment", facility_id=demo.facility_id, order_id=order_id,
                provider="stripe", method="card", state=state, amount=1000,
                provider_ref=f"pi_{name}", data=data,
            )  # fmt: skip
            for source, target, detail in [("created", "pending", {}), *events]:
                await _insert(
                    connection, "payment_event", facility_id=demo.facility_id,
                    payment_id=payment_id, at=dt.datetime.now(dt.UTC), from_state=source,
                    to_state=target, detail=detail,
                )  # fmt: skip
            ids[name] = payment_id
        return ids

    return _insert_rows(settings, seed)


def _payments(settings: Settings) -> dict[int, tuple[str, dict]]:
    async def read() -> dict[int, tuple[str, dict]]:
        engine = make_engine(settings)
        async with engine.connect() as connection:
            rows = await connection.execute(sa.text("SELECT id, state, data FROM payment"))
            found = {
                row.id: (
                    row.state,
                    row.data if isinstance(row.data, dict) else json.loads(row.data),
                )
                for row in rows
            }
        await engine.dispose()
        return found

    return asyncio.run(read())


def _derived(settings: Settings, ids: dict[str, int]) -> tuple[dict[str, str], bool]:
    """Refund causes by payment name, and whether the reacquired order reads as such."""
    from core_service.models import Payment
    from core_service.payments import states
    from core_service.platform.database import make_sessionmaker

    async def read() -> tuple[dict[str, str], bool]:
        engine = make_engine(settings)
        async with make_sessionmaker(engine)() as session:
            payment = await session.get(Payment, ids["reacquired"])
            assert payment is not None
            facility = payment.facility_id
            causes = {
                n: await states.refund_due_cause(session, facility, i) for n, i in ids.items()
            }
            reacquired = await states.reacquired(session, payment.facility_id, payment.order_id)
        await engine.dispose()
        return causes, reacquired

    return asyncio.run(read())


def test_0011_turns_the_payment_flags_into_states_and_back(empty_db_settings: Settings) -> None:
    from core_service.platform.database import alembic_config, upgrade_database

    settings = empty_db_settings
    ids = _seed_before_0011(settings)
    before = _payments(settings)

    upgrade_database(settings)

    after = _payments(settings)
    assert {name: after[i] for name, i in ids.items()} == {
        "sold_out": ("refund_due", {}),
        "paid_twice": ("refund_due", {}),
        "reacquired": ("paid", {}),
        "paid_after_failure": ("refund_due", {"next_action": {"kind": "qr", "url": "u", "data": {}}}),
        "failed": ("failed", {"start_error": "unavailable"}),
        "paid": ("paid", {"next_action": {"kind": "redirect", "url": "u", "data": {}}}),
    }  # fmt: skip
    causes, reacquired = _derived(settings, ids)
    assert causes == {
        "sold_out": "sold_out", "paid_twice": "order_paid", "reacquired": "",
        "paid_after_failure": "paid_after_failure", "failed": "", "paid": "",
    }  # fmt: skip
    assert reacquired

    command.downgrade(alembic_config(settings), "0010_facility_config_version")

    assert _payments(settings) == before


def _seed_pending_attempts(settings: Settings, per_order: tuple[int, ...]) -> list[list[int]]:
    """Orders with that many pending attempts each, as racing starts left them before
    0014; the payment ids per order, oldest first."""
    demo = _demo_at(settings, "0011_payment_refund_due")

    async def seed(connection: AsyncConnection) -> list[list[int]]:
        made = []
        for n, count in enumerate(per_order):
            order_id = await _insert(
                connection, "orders", facility_id=demo.facility_id, code=f"RACE{n}",
                channel="web", access_key="k",
            )  # fmt: skip
            made.append(
                [
                    await _insert(
                        connection,
                        "payment",
                        facility_id=demo.facility_id,
                        order_id=order_id,
                        provider="demo",
                        method="card",
                        state="pending",
                        amount=1000,
                    )  # fmt: skip
                    for _ in range(count)
                ]
            )
        return made

    return _insert_rows(settings, seed)


def _failure_reasons(settings: Settings) -> dict[int, str]:
    async def read() -> dict[int, str]:
        engine = make_engine(settings)
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.text("SELECT payment_id, detail FROM payment_event WHERE to_state = 'failed'")
            )
            found = {
                row.payment_id: (
                    row.detail if isinstance(row.detail, dict) else json.loads(row.detail)
                )
                for row in rows
            }
        await engine.dispose()
        return {payment_id: detail["reason"] for payment_id, detail in found.items()}

    return asyncio.run(read())


def test_0014_keeps_the_newest_pending_attempt_of_each_order(empty_db_settings: Settings) -> None:
    from core_service.platform.database import alembic_config, upgrade_database

    settings = empty_db_settings
    (raced, single) = _seed_pending_attempts(settings, (3, 1))

    upgrade_database(settings, "0014_issue18_fixes")

    states = {i: state for i, (state, _) in _payments(settings).items()}
    assert [states[i] for i in raced] == ["failed", "failed", "pending"]
    assert [states[i] for i in single] == ["pending"]
    reasons = _failure_reasons(settings)
    assert set(reasons) == set(raced[:2])
    assert all("one pending attempt per order" in r for r in reasons.values())
    command.downgrade(alembic_config(settings), "0011_payment_refund_due")

    async def pend_again() -> None:  # the index is gone: several pending attempts again
        engine = make_engine(settings)
        async with engine.begin() as connection:
            await connection.execute(sa.text("UPDATE payment SET state = 'pending'"))
        await engine.dispose()

    asyncio.run(pend_again())
    assert {state for state, _ in _payments(settings).values()} == {"pending"}


def _facility_settings(settings: Settings) -> dict[int, dict]:
    async def read(connection: AsyncConnection) -> dict[int, dict]:
        rows = await connection.execute(sa.text("SELECT id, settings FROM facility"))
        return {int(i): (json.loads(s) if isinstance(s, str) else dict(s or {})) for i, s in rows}

    return _insert_rows(settings, read)


def test_0020_moves_the_self_cancel_switch_into_the_cancellation_policy(
    empty_db_settings: Settings,
) -> None:
    from core_service.platform.database import alembic_config, upgrade_database

    settings = empty_db_settings
    demo = _demo_at(settings, "0015_login_attempts_sessions")
    policy = {"self_cancel": False, "self_cancel_until_days": 3, "fees": [{"days_before": 2}]}

    async def set_old_keys(connection: AsyncConnection) -> int:
        facility = sa.table("facility", sa.column("id"), sa.column("settings", sa.JSON))
        await connection.execute(
            facility.update()
            .where(facility.c.id == demo.facility_id)
            .values(
                settings={
                    "kiosk_payment_methods": ["card"],
                    "self_cancel": True,
                    "cancellation": policy,
                }
            )
        )
        return await _insert(
            connection,
            "facility",
            slug="second",
            name_ja="第二",
            name_en="Second",
            signing_key_encrypted="-",
            signing_public_key="-",
            settings={"self_cancel": False},
        )

    second = _insert_rows(settings, set_old_keys)
    upgrade_database(settings, "0020_self_cancel_setting")
    after = _facility_settings(settings)
    assert after[demo.facility_id] == {
        "kiosk_payment_methods": ["card"],
        "cancellation": {**policy, "self_cancel": True},
    }
    assert after[second] == {"cancellation": {"self_cancel": False}}
    command.downgrade(alembic_config(settings), "0015_login_attempts_sessions")
    assert _facility_settings(settings)[demo.facility_id]["self_cancel"] is True


def test_0022_keeps_the_product_tenant_cache_triggers_both_ways(
    empty_db_settings: Settings,
) -> None:
    """Adding and dropping the stay rate columns must not recreate ``product`` (on SQLite
    that would drop the triggers that bump facility.config_version)."""
    from core_service.platform.database import alembic_config, upgrade_database

    settings = empty_db_settings

    async def product_triggers() -> set[str]:
        engine = make_engine(settings)
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                query = (
                    "SELECT tgname FROM pg_trigger"
                    " WHERE tgrelid = 'product'::regclass AND NOT tgisinternal"
                )
            else:
                query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                query += " AND tbl_name = 'product'"
            names = set((await connection.execute(sa.text(query))).scalars())
        await engine.dispose()
        return names

    upgrade_database(settings, "0021_billing")
    before = asyncio.run(product_triggers())
    assert before  # 0010 put them there
    upgrade_database(settings, "0022_stays")
    assert asyncio.run(product_triggers()) == before
    command.downgrade(alembic_config(settings), "0021_billing")
    assert asyncio.run(product_triggers()) == before
