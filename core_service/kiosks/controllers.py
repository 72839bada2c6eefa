"""Kiosk API: enrolment, catalog, sales with idempotency keys, heartbeats, staff calls.

A kiosk sells only its facility's kiosk-channel products, narrowed to
``Device.allowed_product_ids`` when that list is not empty; the catalog hides the others
and the order endpoint refuses them, so a tampered driver cannot sell them either.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog.capacity import remaining
from core_service.catalog.service import price_categories_by_id, products_for_channel
from core_service.facilities.presenters import facility_out
from core_service.kiosks.devices import enrol
from core_service.kiosks.schemas import (
    CatalogOut,
    CheckoutFieldOut,
    EnrolIn,
    EnrolOut,
    KioskHeartbeatIn,
    KioskOrderIn,
    KioskOrderOut,
    MarkerOut,
    PriceCategoryOut,
    ProductOut,
    StaffCallIn,
    StaffCallOut,
)
from core_service.models import Device, Facility, utcnow
from core_service.orders.placement import place_order
from core_service.orders.presenters import order_out, tickets_out
from core_service.orders.requests import CheckoutRequest, ImmediatePayment, LineRequest
from core_service.platform.errors import Forbidden, InvalidInput
from core_service.platform.guards import requires_device
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from kippu_contract.facility_time import facility_today

KIOSK_PAYMENT_METHODS = ("card", "emoney", "qr")
TERMINAL_PROVIDER = "kiosk_terminal"


@post("/api/v1/kiosk/enrol", status_code=HTTP_200_OK)
async def enrol_kiosk(
    data: JSONBody[EnrolIn], db_session: NamedDependency[AsyncSession]
) -> EnrolOut:
    device, token = await enrol(db_session, data.code)
    facility = await db_session.get(Facility, device.facility_id)
    assert facility is not None
    return EnrolOut(
        token=token,
        device={"id": device.id, "name": device.name, "kind": device.kind},
        facility=facility_out(facility),
    )


class KioskController(Controller):
    path = "/api/v1/kiosk"
    guards = [requires_device("kiosk")]

    @get("/catalog")
    async def catalog(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> CatalogOut:
        today = facility_today(tenant.facility.timezone)
        products = []
        allowed = request.user.allowed_product_ids  # read with the token, this request
        for product in await products_for_channel(db_session, tenant, "kiosk"):
            if allowed and product.id not in allowed:
                continue
            left, cap = await remaining(db_session, product, today)
            marker = tenant.plugins.availability_marker(left, cap)
            products.append(
                ProductOut(
                    id=product.id,
                    code=product.code,
                    kind=product.kind,
                    name_ja=product.name_ja,
                    name_en=product.name_en,
                    uses=product.uses,
                    tax_rate=product.tax_rate,
                    requires_date=product.requires_date,
                    price_categories=[
                        PriceCategoryOut(
                            c.id, c.code, c.name_ja, c.name_en, c.price, c.handling_fee
                        )
                        for c in product.price_categories
                    ],
                    marker=MarkerOut(marker.symbol, marker.label_ja, marker.label_en, marker.level)
                    if marker
                    else None,
                )
            )
        fields = [
            CheckoutFieldOut(
                f.name, f.kind, f.label_ja, f.label_en, f.text_ja, f.text_en, f.required
            )
            for f in tenant.plugins.checkout_fields("kiosk")
        ]
        methods = tenant.facility.settings.get("kiosk_payment_methods", list(KIOSK_PAYMENT_METHODS))
        return CatalogOut(facility_out(tenant.facility), products, fields, methods)

    @post("/orders", status_code=HTTP_201_CREATED)
    async def create_order(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[KioskOrderIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: Annotated[
            str, HeaderParameter(name="Idempotency-Key", min_length=8, max_length=100)
        ],
    ) -> Response[KioskOrderOut]:
        # From the state, not as a dependency: see dependencies.provide_principal_tenant.
        settings: Settings = request.app.state.settings
        if data.payment.method not in KIOSK_PAYMENT_METHODS:
            raise InvalidInput(f"Unknown kiosk payment method {data.payment.method!r}.")
        allowed = request.user.allowed_product_ids  # read with the token, this request
        if allowed:
            categories = await price_categories_by_id(
                db_session, tenant, [line.price_category_id for line in data.lines]
            )
            if any(c.product_id not in allowed for c in categories.values()):
                raise Forbidden(
                    "This kiosk may not sell that product.",
                    "この券売機ではその商品を販売できません。",
                )
        checkout = CheckoutRequest(
            channel="kiosk",
            lines=[
                LineRequest(line.price_category_id, line.quantity, line.visit_date, line.slot)
                for line in data.lines
            ],
            locale=data.locale if data.locale in ("ja", "en") else "ja",
            answers=data.answers,
            idempotency_key=f"kiosk:{request.user.id}:{idempotency_key}",
            device_id=request.user.id,
            payment=ImmediatePayment(
                TERMINAL_PROVIDER, data.payment.method, data.payment.reference, data.payment.amount
            ),
        )
        order, created = await place_order(
            db_session, tenant, checkout, hold_minutes=settings.hold_minutes
        )
        body = KioskOrderOut(
            order=await order_out(
                db_session, order, payment_method=data.payment.method if created else None
            ),
            tickets=await tickets_out(db_session, tenant.facility, order, settings.secret_key),
            facility=facility_out(tenant.facility),
        )
        return Response(body, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @post("/heartbeat", status_code=HTTP_204_NO_CONTENT)
    async def heartbeat(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[KioskHeartbeatIn],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        device = await db_session.get(Device, request.user.id)
        assert device is not None
        device.last_seen_at = utcnow()
        # Merge, not replace: the open staff call lives in the same JSON and must survive.
        device.status = {**device.status, **msgspec.to_builtins(data)}
        await db_session.commit()

    @post("/call-staff", status_code=HTTP_200_OK)
    async def call_staff(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[StaffCallIn],
        db_session: NamedDependency[AsyncSession],
    ) -> StaffCallOut:
        """Record a call for staff; repeated calls while one is open keep the first time."""
        device = await db_session.get(Device, request.user.id)
        assert device is not None
        current = device.status.get("staff_call") or {}
        at = current["at"] if current.get("open") else utcnow().isoformat()
        call = StaffCallOut(open=True, reason=data.reason, detail=data.detail[:500], at=at)
        device.status = {**device.status, "staff_call": msgspec.to_builtins(call)}
        await db_session.commit()
        return call
