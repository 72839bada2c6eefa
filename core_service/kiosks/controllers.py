"""Kiosk API: enrolment, catalog, sales with idempotency keys, stay charges, heartbeats,
staff calls.

The handlers only take the request apart; the rules live in the kiosk services: which
products a kiosk may sell in :mod:`.assortment`, the catalog in :mod:`.catalog`, the sale in
:mod:`.sales`, a time stay's charge in :mod:`.stays`, heartbeats and staff calls in
:mod:`.fleet`.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, HeaderParameter, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.kiosks import fleet
from core_service.kiosks.catalog import kiosk_catalog
from core_service.kiosks.sales import sell, voucher_quote
from core_service.kiosks.schemas import (
    CatalogOut,
    EnrolIn,
    EnrolOut,
    KioskHeartbeatIn,
    KioskOrderIn,
    KioskOrderOut,
    StaffCallIn,
    StaffCallOut,
    StayChargeOut,
    StayOrderIn,
    VoucherQuoteIn,
    VoucherQuoteOut,
)
from core_service.kiosks.stays import pay_stay, stay_charge
from core_service.platform.guards import requires_device
from core_service.platform.principals import DevicePrincipal
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant

#: ``request.user`` of these routes: the guard admits kiosk devices only.
KioskRequest = Request[DevicePrincipal, Any, Any]


@post("/api/v1/kiosk/enrol", status_code=HTTP_200_OK)
async def enrol_kiosk(
    data: JSONBody[EnrolIn], db_session: NamedDependency[AsyncSession]
) -> EnrolOut:
    return await fleet.enrol_device(db_session, data.code)


class KioskController(Controller):
    path = "/api/v1/kiosk"
    guards = [requires_device("kiosk")]

    @get("/catalog")
    async def catalog(
        self,
        request: KioskRequest,
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> CatalogOut:
        return await kiosk_catalog(db_session, tenant, request.user)

    @post("/orders", status_code=HTTP_201_CREATED)
    async def create_order(
        self,
        request: KioskRequest,
        data: JSONBody[KioskOrderIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: Annotated[
            str, HeaderParameter(name="Idempotency-Key", min_length=8, max_length=100)
        ],
    ) -> Response[KioskOrderOut]:
        # From the state, not as a dependency: see dependencies.provide_principal_tenant.
        settings: Settings = request.app.state.settings
        sale = await sell(
            db_session,
            tenant,
            request.user,
            data,
            idempotency_key=idempotency_key,
            settings=settings,
        )
        return Response(sale.body, status_code=HTTP_201_CREATED if sale.created else HTTP_200_OK)

    @get("/stays/charge")
    async def stay_charge(
        self,
        token: FromQuery[str],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> StayChargeOut:
        return await stay_charge(db_session, tenant, token)

    @post("/stays/orders", status_code=HTTP_201_CREATED)
    async def pay_stay(
        self,
        request: KioskRequest,
        data: JSONBody[StayOrderIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> Response[KioskOrderOut]:
        """The idempotency key is the stay's period (``period_total``), not a header."""
        sale = await pay_stay(db_session, tenant, request.user, data)
        return Response(sale.body, status_code=HTTP_201_CREATED if sale.created else HTTP_200_OK)

    @post("/voucher-quote", status_code=HTTP_200_OK)
    async def voucher_quote(
        self,
        request: KioskRequest,
        data: JSONBody[VoucherQuoteIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> VoucherQuoteOut:
        """What a typed voucher code takes off the cart, before the terminal charges;
        nothing is taken or written."""
        return await voucher_quote(db_session, tenant, request.user, data)

    @post("/heartbeat", status_code=HTTP_204_NO_CONTENT)
    async def heartbeat(
        self,
        request: KioskRequest,
        data: JSONBody[KioskHeartbeatIn],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        await fleet.record_heartbeat(db_session, request.user.id, data)

    @post("/call-staff", status_code=HTTP_200_OK)
    async def call_staff(
        self,
        request: KioskRequest,
        data: JSONBody[StaffCallIn],
        db_session: NamedDependency[AsyncSession],
    ) -> StaffCallOut:
        """Record a call for staff; repeated calls while one is open keep the first time."""
        return await fleet.call_staff(db_session, request.user.id, data)
