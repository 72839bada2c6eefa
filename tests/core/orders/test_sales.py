"""Order placement: holds, payment exactly once, expiry, and no overselling."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from core_service.demo.data import DemoFacility
from core_service.models import Capacity, Order, Ticket
from core_service.orders.expiry import expire_holds
from core_service.orders.placement import place_order
from core_service.orders.requests import CheckoutRequest, LineRequest
from core_service.payments.transitions import confirm_payment, create_payment
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.errors import SoldOut
from core_service.platform.settings import Settings
from core_service.platform.tenancy import load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager
from tests.conftest import seed_demo

HOST = PluginHost(build_plugin_manager())


def _web_request(
    demo: DemoFacility, quantity: int, date: dt.date, key: str | None = None
) -> CheckoutRequest:
    return CheckoutRequest(
        channel="web",
        lines=[LineRequest(demo.adult_category_id, quantity, date)],
        answers={"consent_waiver": True},
        customer_email="visitor@example.com",
        idempotency_key=key,
    )


async def _capacity(session, demo: DemoFacility, date: dt.date) -> tuple[int, int, int]:
    row = (
        await session.execute(
            sa.select(Capacity.capacity, Capacity.sold, Capacity.held).where(
                Capacity.facility_id == demo.facility_id, Capacity.date == date
            )
        )
    ).one()
    return tuple(row)


async def test_web_order_holds_then_payment_sells_and_issues_tickets_once(
    db_settings: Settings, demo: DemoFacility
) -> None:
    engine = make_engine(db_settings)
    date = dt.date.today() + dt.timedelta(days=3)
    async with make_sessionmaker(engine)() as session:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        order, created = await place_order(
            session, tenant, _web_request(demo, 2, date), hold_minutes=15
        )
        assert created and order.status == "pending" and order.tickets == []
        assert await _capacity(session, demo, date) == (500, 0, 2)
        payment = await create_payment(session, tenant, order, "demo", "card")
        paid, newly = await confirm_payment(session, tenant, payment.id, "ref-1")
        again, newly_again = await confirm_payment(session, tenant, payment.id, "ref-1")
        assert (paid.status, newly, newly_again) == ("paid", True, False)
        assert len(again.tickets) == 2
        assert await _capacity(session, demo, date) == (500, 2, 0)
    await engine.dispose()


async def test_expired_hold_returns_capacity(db_settings: Settings, demo: DemoFacility) -> None:
    engine = make_engine(db_settings)
    date = dt.date.today() + dt.timedelta(days=1)
    async with make_sessionmaker(engine)() as session:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        order, _ = await place_order(session, tenant, _web_request(demo, 3, date), hold_minutes=15)
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
        assert await expire_holds(session, later) == 1
        assert await _capacity(session, demo, date) == (500, 0, 0)
        refreshed = await session.get(Order, order.id, populate_existing=True)
        assert refreshed is not None and refreshed.status == "expired"
    await engine.dispose()


async def test_sold_out_refusal_writes_nothing(db_settings: Settings) -> None:
    demo = await seed_demo(db_settings, daily_capacity=2)
    engine = make_engine(db_settings)
    date = dt.date.today() + dt.timedelta(days=1)
    async with make_sessionmaker(engine)() as session:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        with pytest.raises(SoldOut):
            await place_order(session, tenant, _web_request(demo, 3, date), hold_minutes=15)
        assert await session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0
    await engine.dispose()


@pytest.mark.postgres
async def test_concurrent_buyers_never_oversell(postgres_settings: Settings) -> None:
    """64 buyers race for 10 places on PostgreSQL: exactly 10 are sold, 10 tickets exist."""
    demo = await seed_demo(postgres_settings, daily_capacity=10)
    # 64 buyers share 16 connections: enough overlap to race on the last places, while
    # leaving the server's connection slots to the other test workers.
    engine = make_engine(postgres_settings, pool_size=16, max_overflow=0)
    sessionmaker = make_sessionmaker(engine)
    date = dt.date.today() + dt.timedelta(days=2)

    async def buyer(i: int) -> bool:
        async with sessionmaker() as session:
            tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
            try:
                order, _ = await place_order(
                    session, tenant, _web_request(demo, 1, date, key=f"buyer-{i}"), hold_minutes=15
                )
            except SoldOut:
                return False
            payment = await create_payment(session, tenant, order, "demo", "card")
            await confirm_payment(session, tenant, payment.id, f"ref-{i}")
            return True

    outcomes = await asyncio.gather(*(buyer(i) for i in range(64)))
    async with sessionmaker() as session:
        assert sum(outcomes) == 10
        assert await _capacity(session, demo, date) == (10, 10, 0)
        assert await session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 10
    await engine.dispose()
