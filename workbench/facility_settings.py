"""Settings state: plugins and their options (one value per field the plugin declares),
payment methods per channel, the cancellation policy (self-cancellation and its deadline,
the fee tiers), the registration number of qualified invoices.

A ``param.Parameterized`` without Panel, over ``GET``/``PUT /api/v1/facility/settings``
(owners and managers; the core refuses everyone else).
"""

from __future__ import annotations

from typing import Any

import param

from kippu_contract.v1.staff import (
    CancellationFeeTier,
    FacilitySettingsIn,
    FacilitySettingsOut,
    PluginOptionOut,
    PluginSettingIn,
)
from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable


class SettingsState(param.Parameterized):
    self_cancel = param.Boolean(default=False)
    #: Visitors may cancel on My Page until this many days before the visit.
    self_cancel_until_days = param.Integer(default=1, bounds=(0, None))
    #: The cancellation fee tiers: [{"days_before", "percent", "fixed"}], as the core
    #: sent them (largest days_before first); the core checks them on save.
    fee_tiers = param.List(default=[])
    #: Printed on receipts (qualified invoices); the core checks it, "" removes it.
    tax_registration_number = param.String(default="")
    web_methods = param.ListSelector(default=[], objects=[])
    kiosk_methods = param.ListSelector(default=[], objects=[])
    #: {plugin name: {"enabled": bool, "options": {...}, "fields": [PluginOptionOut]}}: a
    #: widget per declared field edits its option (no JSON).
    plugins = param.Dict(default={})
    loaded = param.Boolean(default=False, constant=True)
    message = param.String(default="", constant=True)

    def __init__(self, core: CoreAPI, **params: object) -> None:
        self._core = core
        super().__init__(**params)
        self.load()

    def load(self) -> None:
        try:
            data = self._core.facility_settings()
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return
        self._apply(data)

    def _apply(self, data: FacilitySettingsOut) -> None:
        available = data.available_methods
        self.param.web_methods.objects = list(available.get("web", []))
        self.param.kiosk_methods.objects = list(available.get("kiosk", []))
        self.param.update(
            self_cancel=data.self_cancel,
            self_cancel_until_days=data.self_cancel_until_days,
            fee_tiers=[
                {"days_before": f.days_before, "percent": f.percent, "fixed": f.fixed}
                for f in data.cancellation_fees
            ],
            tax_registration_number=data.tax_registration_number,
            web_methods=list(data.payment_methods.get("web", [])),
            kiosk_methods=list(data.payment_methods.get("kiosk", [])),
            plugins={
                p.name: {"enabled": p.enabled, "options": p.options, "fields": p.fields}
                for p in data.plugins
            },
        )
        with param.edit_constant(self):
            self.loaded = True

    def add_fee_tier(self) -> None:
        self.fee_tiers = [*self.fee_tiers, {"days_before": 0, "percent": 0, "fixed": 0}]

    def remove_fee_tier(self, index: int) -> None:
        self.fee_tiers = [t for i, t in enumerate(self.fee_tiers) if i != index]

    def set_fee_tier(self, index: int, key: str, value: int) -> None:
        tiers = [dict(t) for t in self.fee_tiers]
        tiers[index][key] = int(value)
        self.fee_tiers = tiers

    def set_plugin_enabled(self, name: str, enabled: bool) -> None:
        self.plugins = {**self.plugins, name: {**self.plugins[name], "enabled": bool(enabled)}}

    def set_plugin_option(self, name: str, option: str, value: Any) -> None:
        """One option's new value, from its widget (the core checks it on save)."""
        plugin = self.plugins[name]
        options = {**plugin["options"], option: value}
        self.plugins = {**self.plugins, name: {**plugin, "options": options}}

    def option_value(self, name: str, field: PluginOptionOut) -> Any:
        """What the option's widget shows: the stored value, else the field's default."""
        options = self.plugins[name]["options"]
        if field.name in options:
            return options[field.name]
        return "" if field.kind == "secret" else field.default

    def save(self) -> bool:
        changes = FacilitySettingsIn(
            self_cancel=self.self_cancel,
            self_cancel_until_days=self.self_cancel_until_days,
            cancellation_fees=[
                CancellationFeeTier(
                    days_before=int(t["days_before"]),
                    percent=int(t["percent"]),
                    fixed=int(t["fixed"]),
                )
                for t in self.fee_tiers
            ],
            tax_registration_number=self.tax_registration_number.strip(),
            payment_methods={"web": list(self.web_methods), "kiosk": list(self.kiosk_methods)},
            plugins=[
                PluginSettingIn(
                    name=n,
                    enabled=bool(p.get("enabled")),
                    # Every declared option, as its widget shows it: nothing else is sent.
                    options={f.name: self.option_value(n, f) for f in p.get("fields", [])},
                )
                for n, p in self.plugins.items()
            ],
        )
        try:
            data = self._core.update_facility_settings(changes)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self._apply(data)
        self._say("saved")
        return True

    def _say(self, text: str) -> None:
        with param.edit_constant(self):
            self.message = text
