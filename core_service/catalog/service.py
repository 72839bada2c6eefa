"""Reading the catalog: products on sale for a channel, and date availability."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..models import PriceCategory, Product
from ..plugin_api import AvailabilityMarker
from ..tenancy import Tenant
from .capacity import remaining


async def products_for_channel(session: AsyncSession, tenant: Tenant, channel: str) -> list[Product]:
    products = await session.scalars(
        sa.select(Product)
        .where(Product.facility_id == tenant.id, Product.active.is_(True))
        .order_by(Product.sort_order, Product.id)
    )
    return [p for p in products if channel in p.channels]


async def price_categories_by_id(
    session: AsyncSession, tenant: Tenant, ids: list[int]
) -> dict[int, PriceCategory]:
    rows = await session.scalars(
        sa.select(PriceCategory)
        .where(PriceCategory.facility_id == tenant.id, PriceCategory.id.in_(ids))
        .options(selectinload(PriceCategory.product))
    )
    return {row.id: row for row in rows}


@dataclass(frozen=True, slots=True)
class DateAvailability:
    date: dt.date
    remaining: int | None
    capacity: int | None
    marker: AvailabilityMarker | None


async def availability(
    session: AsyncSession, tenant: Tenant, product: Product, dates: list[dt.date], slot: str = ""
) -> list[DateAvailability]:
    result = []
    for date in dates:
        left, capacity = await remaining(session, product, date, slot)
        marker = tenant.plugins.availability_marker(left, capacity)
        result.append(DateAvailability(date, left, capacity, marker))
    return result
