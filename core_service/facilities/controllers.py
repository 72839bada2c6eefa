"""``GET`` and ``PUT /api/v1/facility/settings`` (owners and managers, F17).

- plugins: every installed plugin, whether this facility enabled it, and its options (the
  consent text, the availability thresholds, ...). Installed is not enabled (DESIGN.md).
- payment methods per channel: stored in ``Facility.settings["<channel>_payment_methods"]``,
  the key the checkout and the kiosk API already read.
- ``self_cancel``: whether visitors may cancel from My Page (F7), in
  ``Facility.settings["self_cancel"]``.
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import Controller, Request, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.facilities.schemas import (
    FacilitySettingsIn,
    FacilitySettingsOut,
    PluginSettingOut,
)
from core_service.facilities.setup import set_plugin
from core_service.models import AuditLog, FacilityPlugin, utcnow
from core_service.platform.errors import InvalidInput
from core_service.platform.guards import requires_role
from core_service.platform.tenancy import Tenant
from core_service.plugins.host import PluginHost

#: Methods each channel can offer at all; a facility picks a subset.
CHANNEL_METHODS: dict[str, tuple[str, ...]] = {
    "web": ("card", "konbini", "paypay", "paidy"),
    "kiosk": ("card", "emoney", "qr"),
}


async def _settings_out(
    session: AsyncSession, tenant: Tenant, host: PluginHost
) -> FacilitySettingsOut:
    rows = {
        r.name: r
        for r in await session.scalars(
            sa.select(FacilityPlugin).where(FacilityPlugin.facility_id == tenant.id)
        )
    }
    settings = tenant.facility.settings or {}
    return FacilitySettingsOut(
        plugins=[
            PluginSettingOut(
                name=name,
                enabled=bool(rows[name].enabled) if name in rows else False,
                options=dict(rows[name].options) if name in rows else {},
            )
            for name in host.installed()
        ],
        payment_methods={
            ch: list(settings.get(f"{ch}_payment_methods", methods))
            for ch, methods in CHANNEL_METHODS.items()
        },
        available_methods={ch: list(m) for ch, m in CHANNEL_METHODS.items()},
        self_cancel=bool(settings.get("self_cancel", False)),
    )


class FacilitySettingsController(Controller):
    path = "/api/v1/facility/settings"
    guards = [requires_role("manager")]

    @get("/")
    async def read(
        self,
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        plugin_host: NamedDependency[PluginHost],
    ) -> FacilitySettingsOut:
        return await _settings_out(db_session, tenant, plugin_host)

    @put("/")
    async def update(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[FacilitySettingsIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        plugin_host: NamedDependency[PluginHost],
    ) -> FacilitySettingsOut:
        installed = set(plugin_host.installed())
        settings = dict(tenant.facility.settings or {})
        for plugin in data.plugins or []:
            if plugin.name not in installed:
                raise InvalidInput(
                    f"Plugin {plugin.name!r} is not installed.",
                    "そのプラグインはインストールされていません。",
                )
            await set_plugin(
                db_session, tenant.id, plugin.name, enabled=plugin.enabled, options=plugin.options
            )
        for channel, methods in (data.payment_methods or {}).items():
            allowed = CHANNEL_METHODS.get(channel)
            if allowed is None or not set(methods) <= set(allowed):
                raise InvalidInput(
                    f"Unknown channel or payment method for {channel!r}.",
                    "支払方法の指定が正しくありません。",
                )
            settings[f"{channel}_payment_methods"] = [m for m in allowed if m in methods]
        if data.self_cancel is not None:
            settings["self_cancel"] = data.self_cancel
        # A new dict: the JSON column notices reassignment, not in-place mutation.
        tenant.facility.settings = settings
        db_session.add(
            AuditLog(
                facility_id=tenant.id,
                at=utcnow(),
                actor=request.user.email,
                action="facility.settings",
                data=msgspec.to_builtins(data),
            )
        )
        await db_session.commit()
        return await _settings_out(db_session, tenant, plugin_host)
