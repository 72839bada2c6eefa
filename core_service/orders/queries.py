"""Finding an order of a facility by its code or by its idempotency key."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import (
    Order,
)
from core_service.platform.errors import NotFound
from core_service.platform.tenancy import Tenant


async def find_order_by_key(session: AsyncSession, tenant: Tenant, key: str) -> Order | None:
    return await session.scalar(
        sa.select(Order).where(Order.facility_id == tenant.id, Order.idempotency_key == key)
    )


async def load_order(session: AsyncSession, tenant: Tenant, code: str) -> Order:
    order = await session.scalar(
        sa.select(Order).where(Order.facility_id == tenant.id, Order.code == code)
    )
    if order is None:
        raise NotFound("No such order.", "ご注文が見つかりません。")
    return order
