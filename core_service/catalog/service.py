"""Reading the catalog: products on sale for a channel, and date availability."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog.capacity import rows_between
from core_service.catalog.rules import is_closed
from core_service.models import PriceCategory, Product
from core_service.platform.errors import InvalidInput
from core_service.platform.tenancy import FACILITY_CATEGORIES_WITH_PRODUCT, Tenant
from core_service.plugins.values import AvailabilityMarker
from kippu_contract.facility_time import facility_today


async def products_for_channel(
    session: AsyncSession, tenant: Tenant, channel: str
) -> list[Product]:
    products = await session.scalars(
        sa.select(Product)
        .where(Product.facility_id == tenant.id, Product.active.is_(True))
        .order_by(Product.sort_order, Product.id)
    )
    return [p for p in products if channel in p.channels]


_CATEGORIES_WITH_PRODUCT = FACILITY_CATEGORIES_WITH_PRODUCT.where(
    PriceCategory.id.in_(sa.bindparam("ids", expanding=True))
)


async def price_categories_by_id(
    session: AsyncSession, tenant: Tenant, ids: list[int]
) -> dict[int, PriceCategory]:
    if tenant.catalog is not None:  # a cached snapshot (tenant_cache): no query
        return {i: tenant.catalog[i] for i in ids if i in tenant.catalog}
    rows = await session.scalars(_CATEGORIES_WITH_PRODUCT, {"facility_id": tenant.id, "ids": ids})
    return {row.id: row for row in rows}


@dataclass(frozen=True, slots=True)
class SlotAvailability:
    slot: str
    remaining: int | None
    capacity: int | None
    marker: AvailabilityMarker | None

    @property
    def sold_out(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


@dataclass(frozen=True, slots=True)
class DateAvailability:
    """One calendar day; for timed products the day sums its slots."""

    date: dt.date
    remaining: int | None
    capacity: int | None
    marker: AvailabilityMarker | None
    closed: bool = False
    slots: tuple[SlotAvailability, ...] = ()

    @property
    def bookable(self) -> bool:
        return not self.closed and (self.remaining is None or self.remaining > 0)


def _left(
    rows: dict[tuple[dt.date, str], tuple[int, int]], product: Product, date: dt.date, slot: str
) -> tuple[int | None, int | None]:
    found = rows.get((date, slot))
    if found is not None:
        return found
    cap = product.slot_capacity(slot)
    return (cap, cap) if cap is not None else (None, None)


async def availability(
    session: AsyncSession, tenant: Tenant, product: Product, dates: list[dt.date], slot: str = ""
) -> list[DateAvailability]:
    """Availability of each date (and of each slot of timed products).

    The capacity rows of the whole range are read in one query, so a month's calendar
    costs one round trip whatever its number of days and slots.
    """
    if not dates:
        return []
    rows = await rows_between(session, product, min(dates), max(dates))
    marker = tenant.plugins.availability_marker
    settings = tenant.facility.settings or {}
    labels = [slot] if slot else product.slot_labels()
    result = []
    for date in dates:
        closed = product.requires_date and is_closed(settings, product, date)
        if labels:
            slots = []
            for label in labels:
                left, cap = (
                    (0, _left(rows, product, date, label)[1])
                    if closed
                    else _left(rows, product, date, label)
                )
                slots.append(SlotAvailability(label, left, cap, marker(left, cap)))
            limited = [s for s in slots if s.capacity is not None]
            if len(limited) == len(slots):
                left = sum(s.remaining or 0 for s in slots)
                cap = sum(s.capacity or 0 for s in slots)
            else:
                left, cap = None, None
            day = DateAvailability(date, left, cap, marker(left, cap), closed, tuple(slots))
        else:
            left, cap = _left(rows, product, date, "")
            if closed:
                left = 0
            day = DateAvailability(date, left, cap, marker(left, cap), closed)
        result.append(day)
    return result


#: The most days a feed or widget answers for.
MAX_DAYS = 62


def availability_dates(tenant: Tenant, start: str, days: int) -> list[dt.date]:
    """The days a feed or widget shows: from ``start`` (ISO date, default today, never
    before today), ``days`` of them (1 to MAX_DAYS)."""
    today = facility_today(tenant.facility.timezone)
    try:
        first = dt.date.fromisoformat(start) if start else today
    except ValueError as exc:
        raise InvalidInput(
            "'from' must be a date (YYYY-MM-DD).", "from は日付で指定してください。"
        ) from exc
    first = max(first, today)
    count = min(max(days, 1), MAX_DAYS)
    return [first + dt.timedelta(days=i) for i in range(count)]


async def dated_web_products(session: AsyncSession, tenant: Tenant, code: str) -> list[Product]:
    """The dated web products (not add-ons) whose availability is published; one when
    ``code`` names it."""
    return [
        p
        for p in await products_for_channel(session, tenant, "web")
        if p.requires_date and not p.is_addon and (not code or p.code == code)
    ]
