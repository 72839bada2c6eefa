"""The kiosk domain's services without HTTP: the allowed-products rule, the catalog, the
sale's checks, heartbeats and staff calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.demo.data import DemoFacility
from core_service.kiosks import fleet
from core_service.kiosks.assortment import check_sellable, may_sell, set_allowed_products
from core_service.kiosks.catalog import kiosk_catalog
from core_service.kiosks.sales import sell
from core_service.kiosks.schemas import (
    KioskHeartbeatIn,
    KioskOrderIn,
    StaffCallIn,
)
from core_service.models import Device, Order
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.errors import Forbidden, InvalidInput, NotFound
from core_service.platform.principals import DevicePrincipal
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant, load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager
from kippu_contract.v1.kiosk import KioskPaymentIn, OrderLineIn
from tests.conftest import seed_demo

HOST = PluginHost(build_plugin_manager())


def _device(*allowed: int, device_id: int = 1) -> DevicePrincipal:
    return DevicePrincipal(
        id=device_id,
        facility_id=1,
        kind="kiosk",
        name="K1",
        facility_version=1,
        allowed_product_ids=frozenset(allowed),
    )


def test_a_kiosk_without_a_list_may_sell_every_product() -> None:
    assert may_sell(_device(), 7)


def test_a_kiosk_with_a_list_may_sell_only_the_listed_products() -> None:
    assert may_sell(_device(7), 7)
    assert not may_sell(_device(7), 8)


@dataclass
class World:
    session: AsyncSession
    tenant: Tenant
    demo: DemoFacility
    kiosk: Device


@pytest.fixture
async def world(sqlite_settings: Settings) -> AsyncIterator[World]:
    demo = await seed_demo(sqlite_settings)
    engine = make_engine(sqlite_settings)
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
            kiosk = await session.scalar(
                sa.select(Device).where(
                    Device.facility_id == demo.facility_id, Device.kind == "kiosk"
                )
            )
            assert kiosk is not None
            yield World(session, tenant, demo, kiosk)
    finally:
        await engine.dispose()


def _principal(world: World, *allowed: int) -> DevicePrincipal:
    return _device(*allowed, device_id=world.kiosk.id)


def _order(world: World, method: str = "card") -> KioskOrderIn:
    return KioskOrderIn(
        lines=[OrderLineIn(price_category_id=world.demo.adult_category_id, quantity=1)],
        payment=KioskPaymentIn(method=method, reference="term-1", amount=2000),
        answers={"consent_waiver": True},
    )


async def test_the_catalog_of_a_restricted_kiosk_lists_only_its_products(world: World) -> None:
    catalog = await kiosk_catalog(
        world.session, world.tenant, _principal(world, world.demo.coupon_book_id)
    )
    assert [p.id for p in catalog.products] == [world.demo.coupon_book_id]


async def test_a_sale_of_a_product_outside_the_kiosk_list_is_refused(world: World) -> None:
    with pytest.raises(Forbidden):
        await check_sellable(
            world.session,
            world.tenant,
            _principal(world, world.demo.coupon_book_id),
            [world.demo.adult_category_id],
        )


async def test_a_refused_sale_places_no_order(world: World, sqlite_settings: Settings) -> None:
    with pytest.raises(Forbidden):
        await sell(
            world.session,
            world.tenant,
            _principal(world, world.demo.coupon_book_id),
            _order(world),
            idempotency_key="key-0001",
            settings=sqlite_settings,
        )
    assert await world.session.scalar(sa.select(sa.func.count(Order.id))) == 0


async def test_a_sale_with_a_method_the_terminal_cannot_take_is_refused(
    world: World, sqlite_settings: Settings
) -> None:
    with pytest.raises(InvalidInput):
        await sell(
            world.session,
            world.tenant,
            _principal(world),
            _order(world, method="konbini"),
            idempotency_key="key-0002",
            settings=sqlite_settings,
        )


async def test_a_retried_sale_answers_with_the_first_order(
    world: World, sqlite_settings: Settings
) -> None:
    first = await sell(
        world.session,
        world.tenant,
        _principal(world),
        _order(world),
        idempotency_key="key-0003",
        settings=sqlite_settings,
    )
    again = await sell(
        world.session,
        world.tenant,
        _principal(world),
        _order(world),
        idempotency_key="key-0003",
        settings=sqlite_settings,
    )
    assert first.created and not again.created
    assert again.body.order.code == first.body.order.code


async def test_only_kiosks_have_allowed_products(world: World) -> None:
    gate = await world.session.scalar(
        sa.select(Device).where(Device.facility_id == world.demo.facility_id, Device.kind == "gate")
    )
    assert gate is not None
    with pytest.raises(InvalidInput):
        await set_allowed_products(
            world.session, world.demo.facility_id, gate.id, [1], actor="m@x.jp"
        )


async def test_allowed_products_are_stored_once_each_and_sorted(world: World) -> None:
    await set_allowed_products(
        world.session, world.demo.facility_id, world.kiosk.id, [9, 3, 9], actor="m@x.jp"
    )
    await world.session.refresh(world.kiosk)
    assert world.kiosk.allowed_product_ids == [3, 9]


async def test_another_facilitys_device_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await fleet.close_call(world.session, world.demo.facility_id + 1, world.kiosk.id)


async def test_a_repeated_staff_call_keeps_the_time_of_the_first(world: World) -> None:
    first = await fleet.call_staff(world.session, world.kiosk.id, StaffCallIn(reason="visitor"))
    again = await fleet.call_staff(world.session, world.kiosk.id, StaffCallIn(reason="printer"))
    assert again.at == first.at and again.reason == "printer"


async def test_a_heartbeat_keeps_the_open_staff_call(world: World) -> None:
    await fleet.call_staff(world.session, world.kiosk.id, StaffCallIn(detail="x" * 600))
    await fleet.record_heartbeat(world.session, world.kiosk.id, KioskHeartbeatIn(printer="ok"))
    await world.session.refresh(world.kiosk)
    call = world.kiosk.status["staff_call"]
    assert world.kiosk.status["printer"] == "ok" and call["open"] is True
    assert len(call["detail"]) == fleet.MAX_CALL_DETAIL


async def test_closing_a_staff_call_keeps_it_as_history(world: World) -> None:
    await fleet.call_staff(world.session, world.kiosk.id, StaffCallIn())
    await fleet.close_call(world.session, world.demo.facility_id, world.kiosk.id)
    await world.session.refresh(world.kiosk)
    call = world.kiosk.status["staff_call"]
    assert call["open"] is False and "closed_at" in call
