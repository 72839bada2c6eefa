"""Vouchers state: the facility's discount codes, and creating or switching one off.

A ``param.Parameterized`` without Panel, over ``GET``/``POST /api/v1/vouchers`` and
``PATCH /api/v1/vouchers/{id}`` (owners and managers; the core refuses everyone else,
and a refusal leaves the table empty with the core's message). The rules, and the
checks of what is typed, are the core's (docs/vouchers.md); this page only sends them.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import param

from kippu_contract.v1.vouchers import VOUCHER_KINDS, VoucherChangeIn, VoucherIn, VoucherOut
from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable
from workbench.data_access import DEFAULT_TIMEZONE

COLUMNS = ["id", "code", "kind", "value", "products", "uses", "valid", "active", "description"]


def _day(moment: dt.datetime | None, timezone: str, *, end: bool = False) -> str:
    """A validity bound as the manager typed it, in facility time ("" for none): a
    midnight is a day, and an end at midnight is the day before ("until 31 August" is
    stored as 1 September 00:00)."""
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(timezone))
    if local.time() != dt.time():
        return local.strftime("%Y-%m-%d %H:%M")
    return (local.date() - dt.timedelta(days=1 if end else 0)).isoformat()


def vouchers_frame(vouchers: list[VoucherOut], timezone: str = DEFAULT_TIMEZONE) -> pd.DataFrame:
    rows = [
        {
            "id": v.id,
            "code": v.code,
            "kind": v.kind,
            "value": v.value,
            "products": ", ".join(str(i) for i in v.product_ids),
            "uses": f"{v.uses} / {v.max_uses}" if v.max_uses is not None else str(v.uses),
            "valid": " – ".join(
                (_day(v.valid_from, timezone), _day(v.valid_until, timezone, end=True))
            ).strip(" –"),
            "active": v.active,
            "description": v.description,
        }
        for v in vouchers
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


class VouchersState(param.Parameterized):
    vouchers = param.DataFrame(default=None, allow_None=True, constant=True)
    message = param.String(default="", constant=True)
    timezone = param.String(default=DEFAULT_TIMEZONE, constant=True, doc="The facility's zone.")
    # The new voucher's form.
    code = param.String(default="")
    kind = param.Selector(default="percent", objects=list(VOUCHER_KINDS))
    value = param.Integer(default=10, bounds=(0, None))
    #: Product ids, comma-separated; empty: every product.
    product_ids = param.String(default="")
    #: 0: no limit.
    max_uses = param.Integer(default=0, bounds=(0, None))
    valid_from = param.String(default="", doc="YYYY-MM-DD or YYYY-MM-DDTHH:MM, facility time")
    valid_until = param.String(default="", doc="YYYY-MM-DD (the whole day) or a date and time")
    description = param.String(default="")

    def __init__(self, core: CoreAPI, **params: object) -> None:
        self._core = core
        super().__init__(**params)
        self.refresh()

    def refresh(self) -> None:
        try:
            vouchers = self._core.vouchers()
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return
        with param.edit_constant(self):
            self.vouchers = vouchers_frame(vouchers, self.timezone)

    def create(self) -> bool:
        """Send the form to the core; True when the voucher was created (form cleared)."""
        try:
            ids = [int(part) for part in self.product_ids.replace(" ", "").split(",") if part]
        except ValueError:
            self._say("product ids: numbers separated by commas / 商品IDはカンマ区切りの数字")
            return False
        voucher = VoucherIn(
            code=self.code,
            kind=self.kind,
            value=self.value,
            product_ids=ids,
            max_uses=self.max_uses or None,
            valid_from=self.valid_from.strip() or None,
            valid_until=self.valid_until.strip() or None,
            description=self.description,
        )
        try:
            created = self._core.create_voucher(voucher)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self.param.update(code="", product_ids="", max_uses=0, valid_from="", valid_until="")
        self.description = ""
        self._say(f"{created.code} ✓")
        self.refresh()
        return True

    def set_active(self, voucher_id: int, active: bool) -> bool:
        """Switch a voucher on or off; True when the core did."""
        try:
            self._core.change_voucher(voucher_id, VoucherChangeIn(active=active))
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self.refresh()
        return True

    def _say(self, text: str) -> None:
        with param.edit_constant(self):
            self.message = text
