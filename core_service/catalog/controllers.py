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

from core_service.catalog.feed import DEFAULT_DAYS, availability_feed
from core_service.catalog.schemas import AvailabilityFeed
from core_service.plugins.host import PluginHost

#: Browsers and CDNs may reuse an answer this long; markers change slowly.
CACHE_SECONDS = 60
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET",
    "Cache-Control": f"public, max-age={CACHE_SECONDS}",
}


@get("/api/v1/facilities/{slug:str}/availability")
async def public_availability(
    slug: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    plugin_host: NamedDependency[PluginHost],
    start: Annotated[str, QueryParameter(name="from")] = "",
    days: FromQuery[int] = DEFAULT_DAYS,
    product: FromQuery[str] = "",
) -> Response[AvailabilityFeed]:
    """Markers per day and slot of the facility's dated web products."""
    feed = await availability_feed(db_session, plugin_host, slug, start, days, product)
    return Response(feed, headers=CORS_HEADERS)


PUBLIC_AVAILABILITY_HANDLERS: list[Any] = [public_availability]
