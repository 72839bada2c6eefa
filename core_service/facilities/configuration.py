"""What owners and managers change about their facility (F17), read and written as one.

- plugins: every installed plugin, whether this facility enabled it, and its options (the
  consent text, the availability thresholds, ...). Installed is not enabled (DESIGN.md).
- payment methods per channel: stored in ``Facility.settings["<channel>_payment_methods"]``,
  the key the checkout and the kiosk API already read; a facility picks a subset of what
  the channel can offer at all.
- ``self_cancel``: whether visitors may cancel from My Page (F7), in
  ``Facility.settings["cancellation"]["self_cancel"]``, the key the cancellation policy
  reads (``aftersales.cancellation_policy``); the rest of that policy (deadline, fee tiers)
  is left as it is.
- ``tax_registration_number``: the qualified-invoice number on receipts, checked (T, 13
  digits, check digit) before anything is stored; "" removes it.

Every change is written to the audit log with the staff member who made it.
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.facilities.schemas import (
    FacilitySettingsIn,
    FacilitySettingsOut,
    PluginSettingOut,
)
from core_service.facilities.setup import check_registration_number, set_plugin
from core_service.models import AuditLog, FacilityPlugin, utcnow
from core_service.platform.errors import InvalidInput
from core_service.platform.tenancy import Tenant
from core_service.plugins.host import PluginHost

#: Methods each channel can offer at all; a facility picks a subset.
CHANNEL_METHODS: dict[str, tuple[str, ...]] = {
    "web": ("card", "konbini", "paypay", "paidy"),
    "kiosk": ("card", "emoney", "qr"),
}


async def facility_settings(
    session: AsyncSession, tenant: Tenant, host: PluginHost
) -> FacilitySettingsOut:
    """The facility's plugins, payment methods and self-cancel switch."""
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
        self_cancel=bool(_cancellation(settings).get("self_cancel", False)),
        tax_registration_number=tenant.facility.tax_registration_number,
    )


def _cancellation(settings: dict[str, Any]) -> dict[str, Any]:
    raw = settings.get("cancellation")
    return dict(raw) if isinstance(raw, dict) else {}


async def update_facility_settings(
    session: AsyncSession,
    tenant: Tenant,
    host: PluginHost,
    change: FacilitySettingsIn,
    *,
    actor: str,
) -> FacilitySettingsOut:
    """Apply ``change`` (only the parts it names), audit it, and answer with the result.

    An uninstalled plugin, an unknown channel or a method the channel cannot offer is
    refused (422) before anything is committed."""
    installed = set(host.installed())
    settings = dict(tenant.facility.settings or {})
    if change.tax_registration_number is not None:
        check_registration_number(change.tax_registration_number.strip())
    for plugin in change.plugins or []:
        if plugin.name not in installed:
            raise InvalidInput(
                f"Plugin {plugin.name!r} is not installed.",
                "そのプラグインはインストールされていません。",
            )
        await set_plugin(
            session, tenant.id, plugin.name, enabled=plugin.enabled, options=plugin.options
        )
    for channel, methods in (change.payment_methods or {}).items():
        allowed = CHANNEL_METHODS.get(channel)
        if allowed is None or not set(methods) <= set(allowed):
            raise InvalidInput(
                f"Unknown channel or payment method for {channel!r}.",
                "支払方法の指定が正しくありません。",
            )
        settings[f"{channel}_payment_methods"] = [m for m in allowed if m in methods]
    if change.self_cancel is not None:
        settings["cancellation"] = {
            **_cancellation(settings),
            "self_cancel": change.self_cancel,
        }
    if change.tax_registration_number is not None:
        tenant.facility.tax_registration_number = change.tax_registration_number.strip()
    # A new dict: the JSON column notices reassignment, not in-place mutation.
    tenant.facility.settings = settings
    session.add(
        AuditLog(
            facility_id=tenant.id,
            at=utcnow(),
            actor=actor,
            action="facility.settings",
            data=msgspec.to_builtins(change),
        )
    )
    await session.commit()
    return await facility_settings(session, tenant, host)
