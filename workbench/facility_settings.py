"""Settings state: plugins and options, payment methods per channel, self-cancellation,
the registration number of qualified invoices.

A ``param.Parameterized`` without Panel, over ``GET``/``PUT /api/v1/facility/settings``
(owners and managers; the core refuses everyone else).
"""

from __future__ import annotations

import json

import param

from kippu_contract.v1.staff import FacilitySettingsIn, FacilitySettingsOut, PluginSettingIn
from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable


class SettingsState(param.Parameterized):
    self_cancel = param.Boolean(default=False)
    #: Printed on receipts (qualified invoices); the core checks it, "" removes it.
    tax_registration_number = param.String(default="")
    web_methods = param.ListSelector(default=[], objects=[])
    kiosk_methods = param.ListSelector(default=[], objects=[])
    #: {plugin name: {"enabled": bool, "options": {...}}}, edited as JSON text per plugin.
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
            tax_registration_number=data.tax_registration_number,
            web_methods=list(data.payment_methods.get("web", [])),
            kiosk_methods=list(data.payment_methods.get("kiosk", [])),
            plugins={p.name: {"enabled": p.enabled, "options": p.options} for p in data.plugins},
        )
        with param.edit_constant(self):
            self.loaded = True

    def set_plugin_options(self, name: str, options_json: str) -> bool:
        """Options edited as JSON text; False (and a message) if it is not a JSON object."""
        try:
            options = json.loads(options_json or "{}")
        except ValueError:
            options = None
        if not isinstance(options, dict):
            self._say(f"{name}: options must be a JSON object")
            return False
        self.plugins = {**self.plugins, name: {**self.plugins.get(name, {}), "options": options}}
        return True

    def save(self) -> bool:
        changes = FacilitySettingsIn(
            self_cancel=self.self_cancel,
            tax_registration_number=self.tax_registration_number.strip(),
            payment_methods={"web": list(self.web_methods), "kiosk": list(self.kiosk_methods)},
            plugins=[
                PluginSettingIn(
                    name=n, enabled=bool(p.get("enabled")), options=p.get("options") or {}
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
