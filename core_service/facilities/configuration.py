"""What owners and managers change about their facility (F17), read and written as one.

- plugins: every installed plugin, whether this facility enabled it, and its options (the
  consent text, the availability thresholds, ...), with the fields the plugin declares
  (``plugin_options``): a change must set declared options only, each of its field's
  kind, or it is refused (422, naming the option). A secret option is never answered
  (it reads as "") and "" leaves it as stored. Installed is not enabled (DESIGN.md).
- payment methods per channel: stored in ``Facility.settings["<channel>_payment_methods"]``,
  the key the checkout and the kiosk API already read; a facility picks a subset of what
  the channel can offer at all.
- the cancellation policy (F6, F7) in ``Facility.settings["cancellation"]``, the keys
  ``aftersales.cancellation_policy`` reads: ``self_cancel`` (visitors may cancel from My
  Page), ``self_cancel_until_days`` and the fee tiers (``cancellation_fees``: days before
  the visit -> percent and/or fixed yen; checked, stored largest first).
- ``tax_registration_number``: the qualified-invoice number on receipts, checked (T, 13
  digits, check digit) before anything is stored; "" removes it.

Every change is written to the audit log with the staff member who made it: the change
as ``facility.settings``, and a ``plugin.update`` row per plugin with its options before
and after; secrets are never written there.
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.aftersales.cancellation_policy import (
    MAX_DAYS_BEFORE,
    CancellationPolicy,
    checked_tiers,
)
from core_service.facilities.schemas import (
    FacilitySettingsIn,
    FacilitySettingsOut,
    PluginSettingOut,
)
from core_service.facilities.setup import check_registration_number, set_plugin
from core_service.models import FacilityPlugin
from core_service.platform import audit
from core_service.platform.errors import InvalidInput
from core_service.platform.tenancy import Tenant
from core_service.plugins.host import PluginHost
from core_service.plugins.values import OptionField
from kippu_contract.v1.staff import CancellationFeeTier, PluginOptionOut, PluginSettingIn

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
    declared = host.option_fields()
    policy = CancellationPolicy.from_settings(settings)
    return FacilitySettingsOut(
        plugins=[
            PluginSettingOut(
                name=name,
                enabled=bool(rows[name].enabled) if name in rows else False,
                options=_shown(
                    dict(rows[name].options) if name in rows else {}, declared.get(name, [])
                ),
                fields=[_field_out(f) for f in declared.get(name, [])],
            )
            for name in host.installed()
        ],
        payment_methods={
            ch: list(settings.get(f"{ch}_payment_methods", methods))
            for ch, methods in CHANNEL_METHODS.items()
        },
        available_methods={ch: list(m) for ch, m in CHANNEL_METHODS.items()},
        self_cancel=policy.self_cancel,
        tax_registration_number=tenant.facility.tax_registration_number,
        cancellation_fees=[
            CancellationFeeTier(days_before=t.days_before, percent=t.percent, fixed=t.fixed)
            for t in policy.tiers
        ],
        self_cancel_until_days=policy.self_cancel_until_days,
    )


def _field_out(field: OptionField) -> PluginOptionOut:
    return PluginOptionOut(
        name=field.name,
        kind=field.kind,
        label_ja=field.label_ja,
        label_en=field.label_en,
        default=None if field.kind == "secret" else field.default,
        choices=list(field.choices),
        minimum=field.minimum,
        maximum=field.maximum,
    )


def _secrets(fields: list[OptionField]) -> set[str]:
    return {f.name for f in fields if f.kind == "secret"}


def _shown(options: dict[str, Any], fields: list[OptionField]) -> dict[str, Any]:
    """The options as answered: secrets as ""."""
    secret = _secrets(fields)
    return {k: ("" if k in secret else v) for k, v in options.items()}


def checked_options(
    plugin: PluginSettingIn, fields: list[OptionField], stored: dict[str, Any]
) -> dict[str, Any]:
    """The options to store for ``plugin``: each declared and fitting its field (422
    naming the first that is not); a secret sent as "" keeps its stored value."""
    by_name = {f.name: f for f in fields}
    options: dict[str, Any] = {}
    for name, value in plugin.options.items():
        field = by_name.get(name)
        if field is None:
            raise InvalidInput(
                f"{plugin.name} has no option {name!r}.",
                f"{plugin.name} に「{name}」という設定項目はありません。",
                field=name,
                plugin=plugin.name,
            )
        if field.kind == "secret" and value == "" and name in stored:
            options[name] = stored[name]
            continue
        problem = field.problem(value)
        if problem is not None:
            raise InvalidInput(problem[0], problem[1], field=name, plugin=plugin.name)
        options[name] = value
    return options


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
    declared = host.option_fields()
    rows = {
        r.name: r
        for r in await session.scalars(
            sa.select(FacilityPlugin).where(FacilityPlugin.facility_id == tenant.id)
        )
    }
    for plugin in change.plugins or []:
        if plugin.name not in installed:
            raise InvalidInput(
                f"Plugin {plugin.name!r} is not installed.",
                "そのプラグインはインストールされていません。",
            )
        fields = declared.get(plugin.name, [])
        row = rows.get(plugin.name)
        stored = dict(row.options) if row is not None else {}
        before: dict[str, Any] = {
            "enabled": bool(row.enabled) if row is not None else False,
            "options": stored,
        }
        options = checked_options(plugin, fields, stored)
        await set_plugin(session, tenant.id, plugin.name, enabled=plugin.enabled, options=options)
        after: dict[str, Any] = {"enabled": plugin.enabled, "options": options}
        if after != before:
            secret = _secrets(fields)
            audit.record(
                session,
                tenant.id,
                actor,
                "plugin.update",
                subject=plugin.name,
                data={
                    side: {**values, "options": audit.redacted(values["options"], secret)}
                    for side, values in (("before", before), ("after", after))
                },
            )
    for channel, methods in (change.payment_methods or {}).items():
        allowed = CHANNEL_METHODS.get(channel)
        if allowed is None or not set(methods) <= set(allowed):
            raise InvalidInput(
                f"Unknown channel or payment method for {channel!r}.",
                "支払方法の指定が正しくありません。",
            )
        settings[f"{channel}_payment_methods"] = [m for m in allowed if m in methods]
    cancellation = _cancellation(settings)
    if change.self_cancel is not None:
        cancellation["self_cancel"] = change.self_cancel
    if change.self_cancel_until_days is not None:
        if not 0 <= change.self_cancel_until_days <= MAX_DAYS_BEFORE:
            raise InvalidInput(
                f"Visitors' own cancellation: 0-{MAX_DAYS_BEFORE} days before the visit.",
                f"お客様によるキャンセルの期限は0〜{MAX_DAYS_BEFORE}日前で入力してください。",
                field="self_cancel_until_days",
            )
        cancellation["self_cancel_until_days"] = change.self_cancel_until_days
    if change.cancellation_fees is not None:
        cancellation["fees"] = checked_tiers(
            [msgspec.to_builtins(t) for t in change.cancellation_fees]
        )
    if cancellation != _cancellation(settings):
        settings["cancellation"] = cancellation
    if change.tax_registration_number is not None:
        tenant.facility.tax_registration_number = change.tax_registration_number.strip()
    # A new dict: the JSON column notices reassignment, not in-place mutation.
    tenant.facility.settings = settings
    recorded = msgspec.to_builtins(change)
    for plugin in recorded.get("plugins") or []:
        plugin["options"] = audit.redacted(
            plugin.get("options") or {}, _secrets(declared.get(plugin["name"], []))
        )
    audit.record(session, tenant.id, actor, "facility.settings", data=recorded)
    await session.commit()
    return await facility_settings(session, tenant, host)
