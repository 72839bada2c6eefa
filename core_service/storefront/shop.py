"""The facility a visitor page belongs to, and the template values every shop page uses.

Visitor pages live under ``/shop/{facility_slug}``; each controller declares
``dependencies = {"shop": Provide(provide_shop)}`` and starts its template context with
:func:`shop_context`.
"""

from __future__ import annotations

from typing import Any

from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.platform import urls
from core_service.platform.tenancy import Tenant, load_tenant
from core_service.plugins.host import PluginHost


async def provide_shop(
    facility_slug: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    plugin_host: NamedDependency[PluginHost],
) -> Tenant:
    """The facility named in the URL; visitor pages need no login to find it."""
    return await load_tenant(db_session, plugin_host, slug=facility_slug)


def shop_context(shop: Tenant, locale: str, **extra: Any) -> dict[str, Any]:
    slug = shop.facility.slug
    return {
        "facility": shop.facility,
        "facility_name": shop.facility.name(locale),
        "shop_url": urls.shop_path(slug),
        "mypage_url": urls.mypage_path(slug),
        **extra,
    }
