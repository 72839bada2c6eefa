"""Payment provider keys state: per installed provider, the fields it declares, the masked
values the facility entered and when; what the owner types, sent once and then forgotten.

A ``param.Parameterized`` without Panel, over ``GET``/``PUT
/api/v1/facility/payment-credentials`` (managers read the masked view, only owners store;
the core refuses everyone else). The full values never come back from the core, and this
state keeps what was typed only until it is saved.
"""

from __future__ import annotations

import param

from kippu_contract.v1.staff import CredentialFieldOut, PaymentCredentialsOut
from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable


class PaymentKeysState(param.Parameterized):
    #: [{"provider", "fields": [CredentialFieldOut], "masked": {name: value}, "updated_at"}]
    #: by provider name; "fields" is empty for a provider that declares none.
    providers = param.List(default=[])
    loaded = param.Boolean(default=False, constant=True)
    message = param.String(default="", constant=True)

    def __init__(self, core: CoreAPI, **params: object) -> None:
        self._core = core
        #: What the owner typed, by provider and field; not a parameter, so typing does not
        #: redraw the page, and emptied once saved.
        self._entered: dict[str, dict[str, str]] = {}
        super().__init__(**params)
        self.load()

    def load(self) -> None:
        try:
            data = self._core.payment_credentials()
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return
        self._apply(data)

    def _apply(self, data: PaymentCredentialsOut) -> None:
        stored = {c.provider: c for c in data.credentials}
        self.providers = [
            {
                "provider": name,
                "fields": list(data.declared_fields.get(name, [])),
                "masked": dict(stored[name].fields) if name in stored else {},
                "updated_at": stored[name].updated_at if name in stored else None,
            }
            for name in data.providers
        ]
        with param.edit_constant(self):
            self.loaded = True

    def fields(self, provider: str) -> list[CredentialFieldOut]:
        return next((p["fields"] for p in self.providers if p["provider"] == provider), [])

    def set_value(self, provider: str, field: str, value: str) -> None:
        self._entered.setdefault(provider, {})[field] = value

    def entered(self, provider: str) -> dict[str, str]:
        """The non-empty values typed for ``provider``: what saving sends."""
        return {k: v.strip() for k, v in self._entered.get(provider, {}).items() if v.strip()}

    def save(self, provider: str) -> bool:
        """Store what was typed for ``provider`` (replacing its keys); the core checks it.

        On success the typed values are forgotten and the masked view reloaded."""
        try:
            self._core.store_payment_credentials(provider, self.entered(provider))
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self._entered.pop(provider, None)
        self.load()
        self._say("saved")
        return True

    def _say(self, text: str) -> None:
        with param.edit_constant(self):
            self.message = text
