"""Devices state: kiosks and gates of the facility, creating one (its enrolment code shown
once), revoking one, and the products each kiosk sells.

A ``param.Parameterized`` without Panel, over ``/api/v1/devices`` (listing for staff and
up, changes for managers and owners; the core refuses the rest). The products to choose
from come from an injected loader (the exports' product names in the app), so the state
needs no database and no catalogue route of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd
import param

from kippu_contract.v1.staff import DeviceOut
from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable
from workbench.data_access import DEFAULT_TIMEZONE
from workbench.moments import local_time

DEVICE_COLUMNS = [
    "id",
    "kind",
    "name",
    "enrolled",
    "revoked",
    "silent",
    "last_seen_at",
    "products",
    "status",
]

#: Product choices: label -> product id.
ProductChoices = Callable[[], dict[str, int]]


class DevicesState(param.Parameterized):
    #: The facility\'s time zone, for the times shown.
    timezone = param.String(default=DEFAULT_TIMEZONE)
    devices = param.List(default=[], constant=True, doc="DeviceOut, as the core sent them.")
    new_kind = param.Selector(default="kiosk", objects=["kiosk", "gate"])
    new_name = param.String(default="")
    device_id = param.Integer(default=None, allow_None=True)
    product_ids = param.List(default=[], item_type=int)
    enrolment_code = param.String(default="", constant=True)
    message = param.String(default="", constant=True)

    def __init__(
        self, core: CoreAPI, products: ProductChoices | None = None, **params: object
    ) -> None:
        self._core = core
        self._products = products or dict
        super().__init__(**params)
        self.load()

    def load(self) -> bool:
        try:
            devices = self._core.devices()
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        with param.edit_constant(self):
            self.devices = devices
        return True

    def product_choices(self) -> dict[str, int]:
        return self._products()

    def frame(self) -> pd.DataFrame:
        names = {v: k for k, v in self.product_choices().items()}
        return pd.DataFrame(
            [
                {
                    "id": d.id,
                    "kind": d.kind,
                    "name": d.name,
                    "enrolled": d.enrolled,
                    "revoked": d.revoked,
                    "silent": d.silent,
                    "last_seen_at": local_time(d.last_seen_at, self.timezone),
                    "products": ", ".join(names.get(p, f"#{p}") for p in d.allowed_product_ids),
                    "status": json.dumps(d.status, ensure_ascii=False, default=str)[:160],
                }
                for d in self.devices
            ],
            columns=DEVICE_COLUMNS,
        )

    def choices(self, kind: str | None = None) -> dict[str, int]:
        """Devices not revoked (of ``kind``, if given), by label."""
        return {
            f"#{d.id} {d.name} ({d.kind})": d.id
            for d in self.devices
            if not d.revoked and (kind is None or d.kind == kind)
        }

    @param.depends("device_id", watch=True)
    def _fill_products(self) -> None:
        device = self._device(self.device_id)
        self.product_ids = list(device.allowed_product_ids) if device is not None else []

    def _device(self, device_id: int | None) -> DeviceOut | None:
        return next((d for d in self.devices if d.id == device_id), None)

    def create(self) -> bool:
        """A new device of the form's kind and name; its enrolment code is shown once."""
        try:
            made = self._core.create_device(self.new_kind, self.new_name.strip())
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self.new_name = ""
        self.load()
        self._say(f"#{made.id} {made.name}", code=made.enrolment_code)
        return True

    def revoke(self) -> bool:
        if self._device(self.device_id) is None:
            self._say("choose a device")
            return False
        try:
            self._core.revoke_device(int(self.device_id))  # type: ignore[arg-type]
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self.load()
        self._say("revoked")
        return True

    def save_products(self) -> bool:
        if self._device(self.device_id) is None:
            self._say("choose a device")
            return False
        try:
            self._core.set_device_products(int(self.device_id), list(self.product_ids))  # type: ignore[arg-type]
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self.load()
        self._say("saved")
        return True

    def _say(self, text: str, *, code: str = "") -> None:
        with param.edit_constant(self):
            self.param.update(message=text, enrolment_code=code)
