"""The kiosk's catalog: what this kiosk may sell today, with markers and checkout fields."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog.capacity import remaining
from core_service.catalog.service import availability, products_for_channel
from core_service.facilities.presenters import facility_out
from core_service.kiosks.assortment import may_sell
from core_service.kiosks.sales import KIOSK_PAYMENT_METHODS
from core_service.kiosks.schemas import (
    CatalogOut,
    CheckoutFieldOut,
    MarkerOut,
    PriceCategoryOut,
    ProductOut,
    SlotOut,
)
from core_service.models import Product
from core_service.platform.principals import DevicePrincipal
from core_service.platform.tenancy import Tenant
from core_service.plugins.values import AvailabilityMarker
from kippu_contract.facility_time import facility_today


async def kiosk_catalog(
    session: AsyncSession, tenant: Tenant, device: DevicePrincipal
) -> CatalogOut:
    """The facility's kiosk products this device may sell, with today's markers."""
    today = facility_today(tenant.facility.timezone)
    products = []
    for product in await products_for_channel(session, tenant, "kiosk"):
        if not may_sell(device, product.id):
            continue
        left, cap = await remaining(session, product, today)
        out = _product_out(product, tenant.plugins.availability_marker(left, cap))
        if product.slot_labels():
            # Timed admissions: today's slots, marked as the web shop marks them.
            (day,) = await availability(session, tenant, product, [today])
            out.slots = [
                SlotOut(s.slot, s.remaining, s.sold_out or day.closed, _marker_out(s.marker))
                for s in day.slots
            ]
        products.append(out)
    fields = [
        CheckoutFieldOut(f.name, f.kind, f.label_ja, f.label_en, f.text_ja, f.text_en, f.required)
        for f in tenant.plugins.checkout_fields("kiosk")
    ]
    methods = tenant.facility.settings.get("kiosk_payment_methods", list(KIOSK_PAYMENT_METHODS))
    return CatalogOut(facility_out(tenant.facility), products, fields, methods)


def _product_out(product: Product, marker: AvailabilityMarker | None) -> ProductOut:
    return ProductOut(
        id=product.id,
        code=product.code,
        kind=product.kind,
        name_ja=product.name_ja,
        name_en=product.name_en,
        uses=product.uses,
        tax_rate=product.tax_rate,
        requires_date=product.requires_date,
        price_categories=[
            PriceCategoryOut(c.id, c.code, c.name_ja, c.name_en, c.price, c.handling_fee)
            for c in product.price_categories
        ],
        marker=_marker_out(marker),
        holder_required=product.holder_required,
        is_addon=product.is_addon,
        addon_for=list(product.addon_for or []),
    )


def _marker_out(marker: AvailabilityMarker | None) -> MarkerOut | None:
    if marker is None:
        return None
    return MarkerOut(marker.symbol, marker.label_ja, marker.label_en, marker.level)
