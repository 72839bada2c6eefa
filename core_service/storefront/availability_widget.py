"""The availability widget (F15): the public feed's markers as a small, script-free HTML
page that a facility puts in an ``<iframe>`` on its own site."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog.service import availability, availability_dates, dated_web_products
from core_service.platform.tenancy import load_tenant
from core_service.plugins.host import PluginHost
from core_service.storefront.rendering import render_page, request_locale


@get("/shop/{slug:str}/availability-widget", opt={"frameable": True})
async def availability_widget(
    request: Request[Any, Any, Any],
    slug: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    plugin_host: NamedDependency[PluginHost],
    days: FromQuery[int] = 14,
    product: FromQuery[str] = "",
) -> Template:
    """The feed as a small, script-free HTML table for an ``<iframe>``."""
    tenant = await load_tenant(db_session, plugin_host, slug=slug)
    locale = request_locale(request)
    dates = availability_dates(tenant, "", days)
    rows = [
        (item, await availability(db_session, tenant, item, dates))
        for item in await dated_web_products(db_session, tenant, product)
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
