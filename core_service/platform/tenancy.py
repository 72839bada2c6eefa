"""Resolving the facility (tenant) a request is for, and its enabled plugins.

Every tenant-owned query is scoped by ``facility_id``; this module is where a facility
is looked up once per request and turned into the :class:`FacilityContext` plugins see.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from core_service.models import Facility, FacilityPlugin, PriceCategory, Product, WebhookEndpoint
from core_service.platform.errors import NotFound
from core_service.platform.security import key_cipher
from core_service.plugins.host import FacilityPlugins, PluginHost
from core_service.plugins.values import FacilityContext


@dataclass(frozen=True, slots=True)
class Tenant:
    """A loaded facility with its plugin view; what request handlers work with."""

    facility: Facility
    context: FacilityContext
    plugins: FacilityPlugins
    #: Every price category (with its product) by id, in a cached read-only snapshot
    #: (``tenant_cache``); None when the tenant was loaded in the request's session.
    catalog: Mapping[int, PriceCategory] | None = None
    #: Active webhook endpoints by the event type they receive, in the cached snapshot;
    #: None when not loaded (the webhook outbox then asks the database). An event type
    #: missing here has no subscriber: recording it costs a device request nothing.
    webhook_subscriptions: Mapping[str, tuple[int, ...]] | None = None

    @property
    def id(self) -> int:
        return self.facility.id


def _facility_with_plugins(
    column: sa.orm.InstrumentedAttribute[Any],
) -> sa.Select[Facility, FacilityPlugin]:
    return (
        sa.select(Facility, FacilityPlugin)
        .outerjoin(
            FacilityPlugin,
            sa.and_(FacilityPlugin.facility_id == Facility.id, FacilityPlugin.enabled.is_(True)),
        )
        .where(column == sa.bindparam("key"))
    )


# Built once, not per request.
_BY_SLUG = _facility_with_plugins(Facility.slug)
_BY_ID = _facility_with_plugins(Facility.id)


# One round trip: the product joined in, its category list left unloaded (a sale reads
# the product, never its other categories). Built once: every sale runs it.
FACILITY_CATEGORIES_WITH_PRODUCT = (
    sa.select(PriceCategory)
    .where(PriceCategory.facility_id == sa.bindparam("facility_id"))
    .options(joinedload(PriceCategory.product).lazyload(Product.price_categories))
)


async def load_tenant(
    session: AsyncSession,
    host: PluginHost,
    *,
    slug: str | None = None,
    facility_id: int | None = None,
) -> Tenant:
    # The facility and its enabled plugins in one round trip: every request pays it.
    statement, key = (_BY_SLUG, slug) if slug is not None else (_BY_ID, facility_id)
    rows = (await session.execute(statement, {"key": key})).all()
    if not rows:
        raise NotFound("No such facility.", "施設が見つかりません。")
    facility = rows[0][0]
    options = {plugin.name: dict(plugin.options) for _, plugin in rows if plugin is not None}
    context = FacilityContext(
        id=facility.id,
        slug=facility.slug,
        name_ja=facility.name_ja,
        name_en=facility.name_en,
        timezone=facility.timezone,
        plugin_options=options,
    )
    return Tenant(facility, context, host.for_facility(context, options.keys()))


async def refresh_after_rollback(session: AsyncSession, tenant: Tenant) -> None:
    """A rollback expires every object of the session, and callers go on reading the
    tenant's facility (an error page, a replay lookup): read it again. A cached
    snapshot's facility is not in the session, so a rollback leaves it alone."""
    if tenant.facility in session:
        await session.refresh(tenant.facility)


#: The facility's active endpoints and what they receive. Built once: the tenant cache and
#: the webhook outbox of every uncached request run it.
ACTIVE_WEBHOOK_ENDPOINTS = (
    sa.select(WebhookEndpoint.id, WebhookEndpoint.events)
    .where(
        WebhookEndpoint.facility_id == sa.bindparam("facility_id"),
        WebhookEndpoint.active.is_(True),
    )
    .order_by(WebhookEndpoint.id)
)


async def load_webhook_subscriptions(
    session: AsyncSession, facility_id: int
) -> Mapping[str, tuple[int, ...]]:
    """Active webhook endpoint ids by event type (endpoints in id order)."""
    rows = await session.execute(ACTIVE_WEBHOOK_ENDPOINTS, {"facility_id": facility_id})
    by_type: dict[str, list[int]] = {}
    for endpoint_id, events in rows:
        for event_type in events or []:
            by_type.setdefault(str(event_type), []).append(endpoint_id)
    return MappingProxyType({k: tuple(v) for k, v in by_type.items()})


def signing_key(facility: Facility, secret_key: str) -> bytes:
    """The facility's raw Ed25519 private key, decrypted."""
    return _decrypt_signing_key(facility.signing_key_encrypted, secret_key)


@functools.lru_cache(maxsize=256)
def _decrypt_signing_key(encrypted: str, secret_key: str) -> bytes:
    # Every issued ticket is signed: decrypt (and derive the cipher) once per key, not
    # once per ticket. Keyed by the ciphertext, so a rotated key is read anew.
    return key_cipher(secret_key).decrypt(encrypted.encode())
