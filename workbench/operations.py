"""Operations state: kiosk and gate health, and order lookup, both from the core API.

A ``param.Parameterized`` without Panel. The core masks personal data for viewers and
refuses device health to them; a refusal just leaves that part empty (the page hides it).
Cancelling and refunding are :mod:`workbench.box_office`.
"""

from __future__ import annotations

import json

import pandas as pd
import param

from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable

DEVICE_COLUMNS = ["id", "kind", "name", "silent", "revoked", "last_seen_at", "staff_call", "status"]


class OperationsState(param.Parameterized):
    query = param.String(default="", doc="Order code or customer e-mail.")
    devices = param.DataFrame(default=None, allow_None=True, constant=True)
    devices_allowed = param.Boolean(default=True, constant=True)
    orders = param.List(
        default=[], constant=True, doc="Lookup results, as the core sent them (LookupOrderOut)."
    )
    message = param.String(default="", constant=True)

    def __init__(self, core: CoreAPI, **params: object) -> None:
        self._core = core
        super().__init__(**params)
        self.refresh_devices()

    def refresh_devices(self) -> None:
        try:
            rows = self._core.devices()
        except CoreRefused:
            with param.edit_constant(self):
                self.param.update(devices=None, devices_allowed=False)
            return
        except CoreUnavailable as exc:
            self._say(f"core unavailable: {exc}")
            return
        frame = pd.DataFrame(
            [
                {
                    "id": d.id,
                    "kind": d.kind,
                    "name": d.name,
                    "silent": d.silent,
                    "revoked": d.revoked,
                    "last_seen_at": d.last_seen_at,
                    "staff_call": d.open_call is not None,
                    "status": json.dumps(d.status, ensure_ascii=False, default=str)[:200],
                }
                for d in rows
            ],
            columns=DEVICE_COLUMNS,
        )
        with param.edit_constant(self):
            self.param.update(devices=frame, devices_allowed=True)

    def lookup(self) -> None:
        query = self.query.strip()
        if len(query) < 3:
            self._say("query too short")
            return
        try:
            found = self._core.lookup_orders(query)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return
        with param.edit_constant(self):
            self.param.update(orders=found, message=f"{len(found)}")

    def _say(self, text: str) -> None:
        with param.edit_constant(self):
            self.message = text
