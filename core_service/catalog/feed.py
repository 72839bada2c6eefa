"""The public availability feed (F15): markers per day and slot of a facility's dated web
products, as :mod:`core_service.catalog.controllers` publishes it. Remaining counts are
not published: the marker is what the facility chose to show."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog.schemas import (
    AvailabilityFeed,
    DayFeed,
    MarkerFeed,
    ProductFeed,
    SlotFeed,
)
from core_service.catalog.service import (
    DateAvailability,
    availability,
    availability_dates,
    dated_web_products,
)
from core_service.platform.tenancy import load_tenant
from core_service.plugins.host import PluginHost
from core_service.plugins.values import AvailabilityMarker

DEFAULT_DAYS = 30


def _marker(marker: AvailabilityMarker | None) -> MarkerFeed | None:
    if marker is None:
        return None
    return MarkerFeed(marker.symbol, marker.level, marker.label_ja, marker.label_en)


def _day(day: DateAvailability) -> DayFeed:
    return DayFeed(
        date=day.date,
        closed=day.closed,
        marker=_marker(day.marker),
        slots=[SlotFeed(s.slot, _marker(s.marker)) for s in day.slots],
    )


async def availability_feed(
    session: AsyncSession, host: PluginHost, slug: str, start: str, days: int, product: str
) -> AvailabilityFeed:
    """Markers per day and slot of the facility's dated web products."""
    tenant = await load_tenant(session, host, slug=slug)
    dates = availability_dates(tenant, start, days)
    products = []
    for item in await dated_web_products(session, tenant, product):
        calendar = await availability(session, tenant, item, dates)
        products.append(
            ProductFeed(
                code=item.code,
                kind=item.kind,
                name_ja=item.name_ja,
                name_en=item.name_en,
                url=f"/shop/{slug}/products/{item.code}",
                days=[_day(day) for day in calendar],
            )
        )
    return AvailabilityFeed(
        facility=slug,
        name_ja=tenant.facility.name_ja,
        name_en=tenant.facility.name_en,
        first_day=dates[0],
        products=products,
    )
