"""Catalogue state: a manager's products, the form of one product, its price categories
and its capacities per date (issue 17).

A ``param.Parameterized`` without Panel, over the core's ``/api/v1/catalog/...`` routes
(:mod:`workbench.core_client`): the core checks every rule (per kind, in Japanese and
English) and audits every change; a refusal is shown in ``message``, never raised, and
the form keeps what was typed. The form holds one product: :meth:`select` loads a
product into it, :meth:`new_product` empties it, :meth:`save` creates or replaces.
Sale-window instants are entered in the facility's time zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import param

from kippu_contract.admission import PRODUCT_KINDS
from kippu_contract.v1.catalog import (
    CapacityIn,
    CapacityOut,
    PriceCategoryIn,
    PriceCategoryOut,
    ProductIn,
    ProductOut,
    SlotIn,
)
from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable
from workbench.data_access import DEFAULT_TIMEZONE
from workbench.i18n import t

CHANNELS = ["web", "kiosk"]
WEEKDAYS = list(range(7))
PRODUCT_COLUMNS = ["id", "code", "kind", "name", "active", "prices", "channels"]
CAPACITY_COLUMNS = ["date", "slot", "capacity", "sold", "held", "explicit"]
#: Form parameters that are ``ProductIn`` fields of the same name and value.
PLAIN_FIELDS = (
    "code",
    "kind",
    "name_ja",
    "name_en",
    "description_ja",
    "description_en",
    "tax_rate",
    "uses",
    "daily_capacity",
    "requires_date",
    "validity_days",
    "validity_start",
    "active",
    "sort_order",
    "max_per_order",
    "holder_required",
    "coupon_tear_off",
    "reentry_after_exit",
    "rides_use_ticket",
    "slot_grace_minutes",
    "stay_unit_minutes",
    "stay_unit_price",
    "stay_daily_cap",
    "stay_free_minutes",
)


def products_frame(products: list[ProductOut], lang: str) -> pd.DataFrame:
    rows = [
        {
            "id": p.id,
            "code": p.code,
            "kind": p.kind,
            "name": p.name_ja if lang == "ja" else p.name_en,
            "active": p.active,
            "prices": ", ".join(f"{c.code} ¥{c.price:,}" for c in p.price_categories),
            "channels": ", ".join(p.channels),
        }
        for p in products
    ]
    return pd.DataFrame(rows, columns=PRODUCT_COLUMNS)


def capacities_frame(rows: list[CapacityOut]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            {
                "date": r.date.isoformat(),
                "slot": r.slot,
                "capacity": pd.NA if r.capacity is None else r.capacity,
                "sold": r.sold,
                "held": r.held,
                "explicit": r.explicit,
            }
            for r in rows
        ],
        columns=CAPACITY_COLUMNS,
    )
    frame["capacity"] = frame["capacity"].astype("Int64")
    return frame


class CatalogState(param.Parameterized):
    lang = param.Selector(default="ja", objects=["ja", "en"], doc="Of the messages.")
    timezone = param.String(default=DEFAULT_TIMEZONE, doc="The facility's, for sale windows.")
    products = param.List(default=[], item_type=ProductOut, constant=True)
    #: The product in the form; None: a new one.
    product_id = param.Integer(default=None, allow_None=True)
    # --- the product form ---
    code = param.String(default="")
    kind = param.Selector(default="day_admission", objects=list(PRODUCT_KINDS))
    name_ja = param.String(default="")
    name_en = param.String(default="")
    description_ja = param.String(default="")
    description_en = param.String(default="")
    tax_rate = param.Selector(default=10, objects=[10, 8])
    uses = param.Integer(default=1)
    channels = param.ListSelector(default=list(CHANNELS), objects=list(CHANNELS))
    daily_capacity = param.Integer(default=None, allow_None=True)
    requires_date = param.Boolean(default=True)
    validity_days = param.Integer(default=1)
    validity_start = param.Selector(default="purchase", objects=["purchase", "first_use"])
    active = param.Boolean(default=True)
    sort_order = param.Integer(default=0)
    #: ``[{"label": "10:00", "capacity": 40}, ...]``, edited with add_slot / remove_slot.
    slots = param.List(default=[])
    slot_label = param.String(default="")
    slot_capacity = param.Integer(default=None, allow_None=True)
    #: Local (facility time) instants; None: no limit.
    sale_starts_at = param.Date(default=None, allow_None=True)
    sale_ends_at = param.Date(default=None, allow_None=True)
    closed_dates = param.List(default=[], item_type=dt.date)
    closed_date = param.CalendarDate(default=None, allow_None=True, doc="The one to add.")
    closed_weekdays = param.ListSelector(default=[], objects=WEEKDAYS)
    max_per_order = param.Integer(default=None, allow_None=True)
    addon_for = param.ListSelector(default=[], objects=[])
    holder_required = param.Boolean(default=False)
    coupon_tear_off = param.Boolean(default=False)
    # --- gate rules and time stays (docs/gates.md, docs/stays.md) ---
    reentry_after_exit = param.Boolean(default=False)
    rides_use_ticket = param.Boolean(default=False)
    slot_grace_minutes = param.Integer(default=30)
    stay_unit_minutes = param.Integer(default=30)
    stay_unit_price = param.Integer(default=0)
    stay_daily_cap = param.Integer(default=0)
    stay_free_minutes = param.Integer(default=0)
    # --- price categories of the product in the form ---
    prices = param.List(default=[], item_type=PriceCategoryOut, constant=True)
    #: The price category in the price form; None: a new one.
    price_id = param.Integer(default=None, allow_None=True)
    price_code = param.String(default="")
    price_name_ja = param.String(default="")
    price_name_en = param.String(default="")
    price_amount = param.Integer(default=0)
    price_fee = param.Integer(default=0)
    price_sort = param.Integer(default=0)
    # --- capacities ---
    capacity_from = param.CalendarDate(default=None, allow_None=True)
    capacity_to = param.CalendarDate(default=None, allow_None=True)
    #: A slot's label, or "" for every slot (timed) or the whole day.
    capacity_slot = param.String(default="")
    capacity_value = param.Integer(default=None, allow_None=True)
    capacities = param.DataFrame(default=None, allow_None=True, constant=True)
    message = param.String(default="", constant=True)

    def __init__(self, core: CoreAPI, **params: Any) -> None:
        self._core = core
        super().__init__(**params)
        self._speak()
        today = dt.datetime.now(ZoneInfo(self.timezone)).date()
        self.param.update(capacity_from=today, capacity_to=today + dt.timedelta(days=6))
        self.load()

    @param.depends("lang", watch=True)
    def _speak(self) -> None:
        # The core's refusals (per kind, per field) come in the page's language.
        self._core.language = self.lang

    # --- products -----------------------------------------------------------------------

    def load(self) -> bool:
        """Read the products again (the form keeps what it holds)."""
        try:
            products = self._core.catalog_products()
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        with param.edit_constant(self):
            self.products = products
        self._offer_mains()
        if self.product_id is not None:
            self._show_prices()
        return True

    def product(self, product_id: int | None = None) -> ProductOut | None:
        wanted = self.product_id if product_id is None else product_id
        return next((p for p in self.products if p.id == wanted), None)

    def _offer_mains(self) -> None:
        mains = [p.code for p in self.products if p.kind != "addon" and p.code != self.code]
        self.param.addon_for.objects = mains
        self.addon_for = [c for c in self.addon_for if c in mains]

    def new_product(self) -> None:
        """Empty the form for a new product."""
        defaults = {name: self.param[name].default for name in PLAIN_FIELDS}
        self.param.update(
            product_id=None,
            channels=list(CHANNELS),
            slots=[],
            sale_starts_at=None,
            sale_ends_at=None,
            closed_dates=[],
            closed_weekdays=[],
            addon_for=[],
            **defaults,
        )
        self._offer_mains()
        self._show_prices()

    def select(self, product_id: int) -> bool:
        """Load the product into the form."""
        found = self.product(product_id)
        if found is None:
            self._say(t(self.lang, "catalog_not_found"))
            return False
        self.param.update(
            product_id=found.id,
            **{name: getattr(found, name) for name in PLAIN_FIELDS},
            channels=list(found.channels),
            slots=[{"label": s.label, "capacity": s.capacity} for s in found.slots],
            sale_starts_at=self._local(found.sale_starts_at),
            sale_ends_at=self._local(found.sale_ends_at),
            closed_dates=list(found.closed_dates),
            closed_weekdays=list(found.closed_weekdays),
        )
        self._offer_mains()
        self.addon_for = [c for c in found.addon_for if c in self.param.addon_for.objects]
        self._show_prices()
        self._say("")
        return True

    def _local(self, moment: dt.datetime | None) -> dt.datetime | None:
        if moment is None:
            return None
        return moment.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)

    def _aware(self, moment: dt.datetime | None) -> dt.datetime | None:
        if moment is None:
            return None
        if not isinstance(moment, dt.datetime):  # a date alone: its start
            moment = dt.datetime.combine(moment, dt.time())
        return moment.replace(tzinfo=ZoneInfo(self.timezone))

    def product_in(self) -> ProductIn:
        """The form as the core takes it."""
        return ProductIn(
            **{name: getattr(self, name) for name in PLAIN_FIELDS},
            channels=list(self.channels),
            slots=[SlotIn(label=str(s["label"]), capacity=s.get("capacity")) for s in self.slots],
            sale_starts_at=self._aware(self.sale_starts_at),
            sale_ends_at=self._aware(self.sale_ends_at),
            closed_dates=list(self.closed_dates),
            closed_weekdays=list(self.closed_weekdays),
            addon_for=list(self.addon_for),
        )

    def save(self) -> bool:
        """Create the product in the form, or replace the one it was loaded from."""
        try:
            if self.product_id is None:
                saved = self._core.create_product(self.product_in())
                text = t(self.lang, "catalog_created")
            else:
                saved = self._core.replace_product(self.product_id, self.product_in())
                text = t(self.lang, "catalog_saved")
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self.product_id = saved.id
        self.load()
        self.select(saved.id)
        self._say(text.format(code=saved.code))
        return True

    # --- slots, closed dates --------------------------------------------------------------

    def add_slot(self) -> bool:
        label = self.slot_label.strip()
        if not label or label in [s["label"] for s in self.slots]:
            self._say(t(self.lang, "catalog_slot_label_missing"))
            return False
        self.slots = [*self.slots, {"label": label, "capacity": self.slot_capacity}]
        self.param.update(slot_label="", slot_capacity=None)
        return True

    def remove_slot(self, label: str) -> None:
        self.slots = [s for s in self.slots if s["label"] != label]

    def add_closed_date(self) -> bool:
        if self.closed_date is None:
            return False
        self.closed_dates = sorted({*self.closed_dates, self.closed_date})
        self.closed_date = None
        return True

    def remove_closed_date(self, day: dt.date) -> None:
        self.closed_dates = [d for d in self.closed_dates if d != day]

    # --- prices -----------------------------------------------------------------------------

    def _show_prices(self) -> None:
        found = self.product()
        with param.edit_constant(self):
            self.prices = list(found.price_categories) if found else []
        self.new_price()

    def new_price(self) -> None:
        self.param.update(
            price_id=None,
            price_code="",
            price_name_ja="",
            price_name_en="",
            price_amount=0,
            price_fee=0,
            price_sort=len(self.prices),
        )

    def edit_price(self, price_id: int) -> bool:
        found = next((c for c in self.prices if c.id == price_id), None)
        if found is None:
            return False
        self.param.update(
            price_id=found.id,
            price_code=found.code,
            price_name_ja=found.name_ja,
            price_name_en=found.name_en,
            price_amount=found.price,
            price_fee=found.handling_fee,
            price_sort=found.sort_order,
        )
        return True

    def save_price(self) -> bool:
        """Add the price in the price form to the product, or change the one it shows."""
        if self.product_id is None:
            self._say(t(self.lang, "catalog_save_first"))
            return False
        price = PriceCategoryIn(
            code=self.price_code.strip(),
            name_ja=self.price_name_ja,
            name_en=self.price_name_en,
            price=self.price_amount,
            handling_fee=self.price_fee,
            sort_order=self.price_sort,
        )
        try:
            if self.price_id is None:
                saved = self._core.add_price(self.product_id, price)
            else:
                saved = self._core.change_price(self.price_id, price)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self.load()
        self._say(t(self.lang, "catalog_price_saved").format(code=saved.code, price=saved.price))
        return True

    def delete_price(self, price_id: int) -> bool:
        try:
            self._core.delete_price(price_id)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self.load()
        self._say(t(self.lang, "catalog_price_deleted"))
        return True

    # --- capacities -------------------------------------------------------------------------

    def load_capacities(self) -> bool:
        if self.product_id is None or self.capacity_from is None or self.capacity_to is None:
            return False
        try:
            rows = self._core.capacities(self.product_id, self.capacity_from, self.capacity_to)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        with param.edit_constant(self):
            self.capacities = capacities_frame(rows)
        return True

    def set_capacity(self) -> bool:
        """Set ``capacity_value`` places on every date of the range (and the chosen slot)."""
        if self.product_id is None:
            self._say(t(self.lang, "catalog_save_first"))
            return False
        if self.capacity_from is None or self.capacity_to is None or self.capacity_value is None:
            self._say(t(self.lang, "catalog_capacity_fill"))
            return False
        change = CapacityIn(
            date_from=self.capacity_from,
            date_to=self.capacity_to,
            capacity=self.capacity_value,
            slot=self.capacity_slot or None,
        )
        try:
            rows = self._core.set_capacities(self.product_id, change)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        with param.edit_constant(self):
            self.capacities = capacities_frame(rows)
        self._say(t(self.lang, "catalog_capacity_saved").format(count=len(rows)))
        return True

    def _say(self, text: str) -> None:
        with param.edit_constant(self):
            self.message = text
