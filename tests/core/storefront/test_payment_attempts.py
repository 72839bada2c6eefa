"""The visitor's payment page finds a payment only through its own order and access key."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Order, Payment
from core_service.orders.placement import place_order
from core_service.orders.requests import CheckoutRequest, LineRequest
from core_service.payments.transitions import create_payment
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.errors import NotFound
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant, load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager
from core_service.storefront.payment_attempts import visitor_payment
from tests.conftest import seed_demo

HOST = PluginHost(build_plugin_manager())


@dataclass
class Attempts:
    session: AsyncSession
    tenant: Tenant
    orders: list[tuple[Order, Payment]]


@pytest.fixture
async def attempts(sqlite_settings: Settings) -> AsyncIterator[Attempts]:
    demo = await seed_demo(sqlite_settings)
    engine = make_engine(sqlite_settings)
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
            made = []
            for n in range(2):
                order, _ = await place_order(
                    session,
                    tenant,
                    CheckoutRequest(
                        channel="web",
                        lines=[
                            LineRequest(
                                demo.adult_category_id, 1, dt.date.today() + dt.timedelta(days=2)
                            )
                        ],
                        answers={"consent_waiver": True},
                        customer_email=f"v{n}@example.jp",
                    ),
                    hold_minutes=15,
                )
                made.append((order, await create_payment(session, tenant, order, "demo", "card")))
            yield Attempts(session, tenant, made)
    finally:
        await engine.dispose()


async def test_the_payment_is_found_with_its_order_and_key(attempts: Attempts) -> None:
    (order, payment), _ = attempts.orders
    found = await visitor_payment(
        attempts.session, attempts.tenant, order.code, order.access_key, payment.id
    )
    assert found == (order, payment)


async def test_another_orders_payment_is_not_found(attempts: Attempts) -> None:
    (order, _), (_, other_payment) = attempts.orders
    with pytest.raises(NotFound):
        await visitor_payment(
            attempts.session, attempts.tenant, order.code, order.access_key, other_payment.id
        )


async def test_a_wrong_access_key_finds_nothing(attempts: Attempts) -> None:
    (order, payment), _ = attempts.orders
    with pytest.raises(NotFound):
        await visitor_payment(attempts.session, attempts.tenant, order.code, "wrong", payment.id)
