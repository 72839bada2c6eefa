"""Per-worker cache of a facility's setup for device requests, checked on every request.

A kiosk sale or a gate scan needs the facility, its enabled plugins, (for a sale) the
price categories with their products, and which webhook event types have subscribers:
data staff change a few times a day, read hundreds of times a second during an onsale. Loading it per request cost a transaction
(BEGIN, two queries, COMMIT) and the ORM's object building on the hottest path.

Here each worker keeps one snapshot per facility, tagged with the facility's
``config_version``. Triggers in the database bump that version on any change of the
facility row, its plugins, products or price categories (migration 0010) or its webhook
endpoints (migration 0012), and the
device-token lookup reads it in the same statement (``accounts.auth``), so a request
uses a snapshot only when nothing changed since it was taken: correct across workers
and machines, with no invalidation messages to lose.

Snapshots are read-only. Their ORM objects are detached (loaded in a session of their
own, then closed) and shared by concurrent requests; nothing may modify them or add
them to a session. Staff requests, which do modify the facility, never get one.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from types import MappingProxyType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.platform.tenancy import (
    FACILITY_CATEGORIES_WITH_PRODUCT,
    Tenant,
    load_tenant,
    load_webhook_subscriptions,
)
from core_service.plugins.host import PluginHost


class TenantCache:
    """Snapshots of facilities' setup, at most ``size`` facilities (least recently used
    go first)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], host: PluginHost, size: int = 256
    ) -> None:
        self._sessions = sessions
        self._host = host
        self._size = size
        self._entries: OrderedDict[int, tuple[int, Tenant]] = OrderedDict()
        self._locks: dict[int, asyncio.Lock] = {}

    async def get(self, facility_id: int, version: int) -> Tenant:
        """The facility's snapshot, as of ``version`` (read this request) or newer."""
        fresh = self._fresh(facility_id, version)
        if fresh is not None:
            return fresh
        # An onsale's first second sends every buyer here at once: one loads, the
        # others wait for its snapshot instead of loading it a hundred times.
        lock = self._locks.setdefault(facility_id, asyncio.Lock())
        async with lock:
            fresh = self._fresh(facility_id, version)
            if fresh is not None:
                return fresh
            loaded_version, tenant = await self._load(facility_id)
            self._entries[facility_id] = (loaded_version, tenant)
            self._entries.move_to_end(facility_id)
            while len(self._entries) > self._size:
                evicted, _ = self._entries.popitem(last=False)
                self._locks.pop(evicted, None)
        return tenant

    def _fresh(self, facility_id: int, version: int) -> Tenant | None:
        """The cached snapshot if it is as new as ``version``."""
        entry = self._entries.get(facility_id)
        if entry is None or entry[0] < version:
            return None
        self._entries.move_to_end(facility_id)
        return entry[1]

    async def _load(self, facility_id: int) -> tuple[int, Tenant]:
        async with self._sessions() as session:
            tenant = await load_tenant(session, self._host, facility_id=facility_id)
            # The version is read with the facility, before the categories: the snapshot
            # is at least as new as its tag, so a later change always moves the tag on.
            version = tenant.facility.config_version
            categories = (
                await session.scalars(
                    FACILITY_CATEGORIES_WITH_PRODUCT, {"facility_id": facility_id}
                )
            ).all()
            subscriptions = await load_webhook_subscriptions(session, facility_id)
        # Closing the session detached every object with its attributes loaded.
        snapshot = Tenant(
            tenant.facility,
            tenant.context,
            tenant.plugins,
            catalog=MappingProxyType({c.id: c for c in categories}),
            webhook_subscriptions=subscriptions,
        )
        return version, snapshot
