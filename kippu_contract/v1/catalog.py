"""The catalogue staff API (``/api/v1/catalog/*``): products, their price categories and
their capacity per date, as a manager sets a facility up from the workbench.

Inputs forbid unknown fields, so a misspelt field is refused instead of ignored. The
rules a product must satisfy (per kind) are the core's
(``core_service.catalog.product_fields``); these shapes only say what travels. A new product field is added to :class:`ProductIn`
and :class:`ProductOut` with a default, and to the one mapping in the core
(``PRODUCT_FIELDS``), so older clients keep working.
"""

from __future__ import annotations

import datetime as dt

import msgspec


class SlotIn(msgspec.Struct, forbid_unknown_fields=True):
    """One time slot of a timed admission: its label ("10:00") and places per date."""

    label: str
    #: Places of the slot on a date without a capacity row; None: unlimited.
    capacity: int | None = None


class SlotOut(msgspec.Struct):
    label: str
    capacity: int | None


class ProductIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A product as created (``POST``) or replaced (``PUT``): every field, defaults for
    the ones a kind does not use."""

    code: str
    kind: str
    name_ja: str
    name_en: str
    description_ja: str = ""
    description_en: str = ""
    #: Consumption tax rate in percent: 10 (standard) or 8 (reduced).
    tax_rate: int = 10
    #: Uses per ticket: 1 for admissions, N for an N-ride coupon book.
    uses: int = 1
    #: Where the product is sold: any of "web", "kiosk" (at least one).
    channels: list[str] = msgspec.field(default_factory=lambda: ["web", "kiosk"])
    #: Places per date without a capacity row; None: unlimited.
    daily_capacity: int | None = None
    #: Whether the buyer chooses a visit date (False: open-dated, e.g. coupon books).
    requires_date: bool = True
    #: Days a ticket stays valid from its start (purchase or first use).
    validity_days: int = 1
    #: "purchase" or "first_use" (open-dated products only).
    validity_start: str = "purchase"
    active: bool = True
    sort_order: int = 0
    #: Timed admissions only (and they need at least one).
    slots: list[SlotIn] = msgspec.field(default_factory=list)
    #: Sales window, aware datetimes; None: no limit.
    sale_starts_at: dt.datetime | None = None
    sale_ends_at: dt.datetime | None = None
    closed_dates: list[dt.date] = msgspec.field(default_factory=list)
    #: 0 = Monday ... 6 = Sunday.
    closed_weekdays: list[int] = msgspec.field(default_factory=list)
    max_per_order: int | None = None
    #: Add-ons only: codes of the main products it is sold with (at least one).
    addon_for: list[str] = msgspec.field(default_factory=list)
    holder_required: bool = False
    #: Coupon books only: one single-use ticket per use instead of one ticket.
    coupon_tear_off: bool = False
    # --- gate rules (docs/gates.md "The rules of a scan") ---
    #: Day and timed admissions: an entry after an admitted exit admits again.
    reentry_after_exit: bool = False
    #: Day admissions: a ride scan uses the ticket (off: it admits a visitor inside).
    rides_use_ticket: bool = False
    #: Timed admissions: minutes before and after the slot's start an entry admits.
    slot_grace_minutes: int = 30
    # --- time stays only (docs/stays.md): yen per unit started, after the free minutes ---
    stay_unit_minutes: int = 30
    stay_unit_price: int = 0
    #: At most this many yen per facility-local day; 0: no cap.
    stay_daily_cap: int = 0
    stay_free_minutes: int = 0


class PriceCategoryIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: str
    name_ja: str
    name_en: str
    #: Tax-inclusive price in yen.
    price: int
    #: Separate handling fee (外手数料) in yen, kept on refunds.
    handling_fee: int = 0
    sort_order: int = 0


class PriceCategoryOut(msgspec.Struct, kw_only=True):
    id: int
    product_id: int
    code: str
    name_ja: str
    name_en: str
    price: int
    handling_fee: int
    sort_order: int
    #: Whether order lines use it (it can then be changed, not deleted).
    in_use: bool = False


class ProductOut(msgspec.Struct, kw_only=True):
    id: int
    code: str
    kind: str
    name_ja: str
    name_en: str
    description_ja: str
    description_en: str
    tax_rate: int
    uses: int
    channels: list[str]
    daily_capacity: int | None
    requires_date: bool
    validity_days: int
    validity_start: str
    active: bool
    sort_order: int
    slots: list[SlotOut]
    sale_starts_at: dt.datetime | None
    sale_ends_at: dt.datetime | None
    closed_dates: list[dt.date]
    closed_weekdays: list[int]
    max_per_order: int | None
    addon_for: list[str]
    holder_required: bool
    coupon_tear_off: bool
    reentry_after_exit: bool
    rides_use_ticket: bool
    slot_grace_minutes: int
    stay_unit_minutes: int
    stay_unit_price: int
    stay_daily_cap: int
    stay_free_minutes: int
    price_categories: list[PriceCategoryOut] = msgspec.field(default_factory=list)
    #: Whether orders use it (it can then be deactivated, never deleted).
    has_orders: bool = False


class CapacityIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Set the places of every date from ``date_from`` to ``date_to`` (both included).

    ``slot``: one slot's label; None for every slot of a timed admission, or the whole
    day of other products. Refused (409, nothing changed) if any date has more places
    sold or held than ``capacity``."""

    date_from: dt.date
    date_to: dt.date
    capacity: int
    slot: str | None = None


class CapacityOut(msgspec.Struct, kw_only=True):
    """The places of one date (and slot): from its row, or the product's default."""

    date: dt.date
    #: The slot's label, "" for the whole day.
    slot: str
    #: None: unlimited.
    capacity: int | None
    sold: int
    held: int
    #: Whether a row of its own says it (False: the product's default applies).
    explicit: bool
