"""Which products a kiosk may sell: the allowed-products rule, in one place.

A kiosk sells only its facility's kiosk-channel products, narrowed to
``Device.allowed_product_ids`` when that list is not empty. The list travels with the
device's token (``DevicePrincipal.allowed_product_ids``, read once per request), so the
catalog and the sale of one request agree. The catalog hides the other products and the
sale refuses them, so a tampered driver cannot sell them either. Managers set the list;
only kiosks have one.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog.service import price_categories_by_id
from core_service.kiosks.fleet import facility_device
from core_service.platform import audit
from core_service.platform.errors import Forbidden, InvalidInput
from core_service.platform.principals import DevicePrincipal
from core_service.platform.tenancy import Tenant


def may_sell(device: DevicePrincipal, product_id: int) -> bool:
    """Whether ``device`` may sell the product; an empty list allows every kiosk product."""
    allowed = device.allowed_product_ids
    return not allowed or product_id in allowed


async def check_sellable(
    session: AsyncSession,
    tenant: Tenant,
    device: DevicePrincipal,
    price_category_ids: Iterable[int],
) -> None:
    """Refuse (403) a sale with a price category of a product the kiosk may not sell."""
    if not device.allowed_product_ids:
        # Unrestricted kiosks, the usual case: no query on the sale's hot path.
        return
    categories = await price_categories_by_id(session, tenant, list(price_category_ids))
    if any(not may_sell(device, c.product_id) for c in categories.values()):
        raise Forbidden(
            "This kiosk may not sell that product.",
            "この券売機ではその商品を販売できません。",
        )


async def set_allowed_products(
    session: AsyncSession,
    facility_id: int,
    device_id: int,
    product_ids: Iterable[int],
    *,
    actor: str,
) -> None:
    """Limit a kiosk to these products (an empty list: every kiosk product)."""
    device = await facility_device(session, facility_id, device_id)
    if device.kind != "kiosk":
        raise InvalidInput("Only kiosks have allowed products.", "商品の制限は券売機のみです。")
    before = [int(p) for p in device.allowed_product_ids or []]
    device.allowed_product_ids = sorted(set(product_ids))
    audit.record(
        session,
        facility_id,
        actor,
        "device.products",
        subject=f"device:{device.id}",
        data={"before": before, "after": device.allowed_product_ids},
    )
    await session.commit()
