"""The staff order lookup service: finding by code or e-mail, and masking by role."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.orders.lookup import lookup_orders, mask_email, mask_name
from core_service.orders.placement import place_order
from core_service.orders.requests import CheckoutRequest, LineRequest
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant, load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager
from tests.conftest import seed_demo

HOST = PluginHost(build_plugin_manager())
EMAIL = "hanako@example.jp"


def test_a_masked_email_keeps_the_first_letters_and_the_top_level_domain() -> None:
    assert mask_email("hanako@example.jp") == "h***@e***.jp"


def test_a_masked_email_without_an_at_sign_shows_nothing() -> None:
    assert mask_email("not-an-address") == "***"


def test_a_masked_name_keeps_only_the_first_character() -> None:
    assert mask_name("山田花子") == "山***"
    assert mask_name("") == ""


@pytest.fixture
async def shop(sqlite_settings: Settings) -> AsyncIterator[tuple[AsyncSession, Tenant, str]]:
    demo = await seed_demo(sqlite_settings)
    engine = make_engine(sqlite_settings)
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
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
                    customer_email=EMAIL,
                    customer_name="Hanako Yamada",
                ),
                hold_minutes=15,
            )
            yield session, tenant, order.code
    finally:
        await engine.dispose()


async def test_staff_see_the_customer_in_full(shop: tuple[AsyncSession, Tenant, str]) -> None:
    session, tenant, code = shop
    (found,) = await lookup_orders(session, tenant, code, role="staff")
    assert (found.customer_email, found.customer_name, found.masked) == (
        EMAIL,
        "Hanako Yamada",
        False,
    )


async def test_viewers_see_the_customer_masked(shop: tuple[AsyncSession, Tenant, str]) -> None:
    session, tenant, code = shop
    (found,) = await lookup_orders(session, tenant, code, role="viewer")
    assert (found.customer_email, found.customer_name, found.masked) == (
        "h***@e***.jp",
        "H***",
        True,
    )


async def test_an_email_query_finds_the_order_whatever_its_case(
    shop: tuple[AsyncSession, Tenant, str],
) -> None:
    session, tenant, code = shop
    found = await lookup_orders(session, tenant, "  Hanako@Example.JP ", role="staff")
    assert [o.code for o in found] == [code]


async def test_a_code_query_is_case_insensitive(shop: tuple[AsyncSession, Tenant, str]) -> None:
    session, tenant, code = shop
    found = await lookup_orders(session, tenant, code.lower(), role="viewer")
    assert [o.code for o in found] == [code]
