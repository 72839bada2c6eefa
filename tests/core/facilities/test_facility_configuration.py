"""Facility settings (F17) without HTTP: what a change may contain, and its audit entry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.facilities.configuration import facility_settings, update_facility_settings
from core_service.models import AuditLog, Facility
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.errors import InvalidInput
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant, load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager
from kippu_contract.v1.staff import FacilitySettingsIn, PluginSettingIn
from tests.conftest import seed_demo

HOST = PluginHost(build_plugin_manager())


@dataclass
class Park:
    session: AsyncSession
    tenant: Tenant
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
async def park(sqlite_settings: Settings) -> AsyncIterator[Park]:
    demo = await seed_demo(sqlite_settings)
    engine = make_engine(sqlite_settings)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
            yield Park(session, tenant, sessions)
    finally:
        await engine.dispose()


async def _stored_settings(park: Park) -> dict:
    async with park.sessions() as other:
        facility = await other.get(Facility, park.tenant.id)
        assert facility is not None
        return dict(facility.settings or {})


async def test_payment_methods_are_stored_in_the_channels_order(park: Park) -> None:
    change = FacilitySettingsIn(payment_methods={"kiosk": ["qr", "card"]})
    out = await update_facility_settings(park.session, park.tenant, HOST, change, actor="m@x.jp")
    assert out.payment_methods["kiosk"] == ["card", "qr"]
    assert (await _stored_settings(park))["kiosk_payment_methods"] == ["card", "qr"]


async def test_a_method_the_channel_cannot_offer_is_refused_and_nothing_is_stored(
    park: Park,
) -> None:
    before = await _stored_settings(park)
    change = FacilitySettingsIn(self_cancel=True, payment_methods={"kiosk": ["konbini"]})
    with pytest.raises(InvalidInput):
        await update_facility_settings(park.session, park.tenant, HOST, change, actor="m@x.jp")
    assert await _stored_settings(park) == before


async def test_an_unknown_channel_is_refused(park: Park) -> None:
    with pytest.raises(InvalidInput):
        await update_facility_settings(
            park.session,
            park.tenant,
            HOST,
            FacilitySettingsIn(payment_methods={"phone": ["card"]}),
            actor="m@x.jp",
        )


async def test_a_plugin_that_is_not_installed_is_refused(park: Park) -> None:
    change = FacilitySettingsIn(plugins=[PluginSettingIn(name="no_such_plugin", enabled=True)])
    with pytest.raises(InvalidInput):
        await update_facility_settings(park.session, park.tenant, HOST, change, actor="m@x.jp")


async def test_a_change_is_audited_with_its_author(park: Park) -> None:
    await update_facility_settings(
        park.session, park.tenant, HOST, FacilitySettingsIn(self_cancel=True), actor="m@x.jp"
    )
    entry = await park.session.scalar(
        sa.select(AuditLog).where(AuditLog.action == "facility.settings")
    )
    assert entry is not None and entry.actor == "m@x.jp"
    assert entry.data["self_cancel"] is True


async def test_every_installed_plugin_is_listed_enabled_or_not(park: Park) -> None:
    out = await facility_settings(park.session, park.tenant, HOST)
    assert [p.name for p in out.plugins] == HOST.installed()
