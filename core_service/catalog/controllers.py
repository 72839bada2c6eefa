"""Public availability (F15): a JSON feed for a facility's own site.

``GET /api/v1/facilities/{slug}/availability`` answers with the 〇/△/× marker of every
web-sold dated product for each day (and slot), and allows any origin (CORS), so a
corporate site can fetch it from the visitor's browser. Remaining counts are not
published: the marker is what the facility chose to show.
The same markers as an embeddable HTML page are served by the storefront
(:mod:`core_service.storefront.availability_widget`).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
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
#: Browsers and CDNs may reuse an answer this long; markers change slowly.
CACHE_SECONDS = 60
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET",
    "Cache-Control": f"public, max-age={CACHE_SECONDS}",
}


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


@get("/api/v1/facilities/{slug:str}/availability")
async def availability_feed(
    slug: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    plugin_host: NamedDependency[PluginHost],
    start: Annotated[str, QueryParameter(name="from")] = "",
    days: FromQuery[int] = DEFAULT_DAYS,
    product: FromQuery[str] = "",
) -> Response[AvailabilityFeed]:
    """Markers per day and slot of the facility's dated web products."""
    tenant = await load_tenant(db_session, plugin_host, slug=slug)
    dates = availability_dates(tenant, start, days)
    products = []
    for item in await dated_web_products(db_session, tenant, product):
        calendar = await availability(db_session, tenant, item, dates)
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
    body = AvailabilityFeed(
        facility=slug,
        name_ja=tenant.facility.name_ja,
        name_en=tenant.facility.name_en,
        first_day=dates[0],
        products=products,
    )
    return Response(body, headers=CORS_HEADERS)


PUBLIC_AVAILABILITY_HANDLERS: list[Any] = [availability_feed]
