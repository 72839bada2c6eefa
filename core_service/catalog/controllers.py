"""Public availability (F15): a JSON feed and an embeddable widget for a facility's own site.

``GET /api/v1/facilities/{slug}/availability`` answers with the 〇/△/× marker of every
web-sold dated product for each day (and slot), and allows any origin (CORS), so a
corporate site can fetch it from the visitor's browser. Remaining counts are not
published: the marker is what the facility chose to show.
``GET /shop/{slug}/availability-widget`` is the same as a small HTML page to put in an
``<iframe>``; it needs no script on either side.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.params import Parameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog.service import DateAvailability, availability, products_for_channel
from core_service.models import Product
from core_service.platform.errors import InvalidInput
from core_service.platform.tenancy import Tenant, load_tenant
from core_service.plugins.host import PluginHost
from core_service.plugins.values import AvailabilityMarker
from kippu_contract.facility_time import facility_today

MAX_DAYS = 62
DEFAULT_DAYS = 30
#: Browsers and CDNs may reuse an answer this long; markers change slowly.
CACHE_SECONDS = 60
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET",
    "Cache-Control": f"public, max-age={CACHE_SECONDS}",
}


class MarkerFeed(msgspec.Struct):
    symbol: str
    level: str
    label_ja: str
    label_en: str


class SlotFeed(msgspec.Struct):
    slot: str
    marker: MarkerFeed | None


class DayFeed(msgspec.Struct):
    date: dt.date
    closed: bool
    marker: MarkerFeed | None
    slots: list[SlotFeed]


class ProductFeed(msgspec.Struct):
    code: str
    kind: str
    name_ja: str
    name_en: str
    url: str
    days: list[DayFeed]


class AvailabilityFeed(msgspec.Struct):
    facility: str
    name_ja: str
    name_en: str
    first_day: dt.date
    products: list[ProductFeed]


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


def _days(tenant: Tenant, start: str, days: int) -> list[dt.date]:
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


async def _dated_products(session: AsyncSession, tenant: Tenant, code: str) -> list[Product]:
    return [
        p
        for p in await products_for_channel(session, tenant, "web")
        if p.requires_date and not p.is_addon and (not code or p.code == code)
    ]


@get("/api/v1/facilities/{slug:str}/availability")
async def availability_feed(
    slug: str,
    db_session: AsyncSession,
    plugin_host: PluginHost,
    start: str = Parameter(query="from", default=""),
    days: int = DEFAULT_DAYS,
    product: str = "",
) -> Response[AvailabilityFeed]:
    """Markers per day and slot of the facility's dated web products."""
    tenant = await load_tenant(db_session, plugin_host, slug=slug)
    dates = _days(tenant, start, days)
    products = []
    for item in await _dated_products(db_session, tenant, product):
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


@get("/shop/{slug:str}/availability-widget")
async def availability_widget(
    request: Request[Any, Any, Any],
    slug: str,
    db_session: AsyncSession,
    plugin_host: PluginHost,
    days: int = 14,
    product: str = "",
) -> Template:
    """The feed as a small, script-free HTML table for an ``<iframe>``."""
    from core_service.storefront.rendering import render_page, request_locale

    tenant = await load_tenant(db_session, plugin_host, slug=slug)
    locale = request_locale(request)
    dates = _days(tenant, "", days)
    rows = [
        (item, await availability(db_session, tenant, item, dates))
        for item in await _dated_products(db_session, tenant, product)
    ]
    return render_page(
        request,
        "availability_widget.html",
        {
            "facility_name": tenant.facility.name(locale),
            "dates": dates,
            "rows": rows,
            "shop_url": f"/shop/{slug}/",
            "product_url": lambda p: f"/shop/{slug}/products/{p.code}",
        },
    )


PUBLIC_AVAILABILITY_HANDLERS: list[Any] = [availability_feed, availability_widget]
