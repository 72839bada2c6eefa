"""What a manager may say a product is: each field of ``ProductIn`` checked, per kind, and
mapped to the ``Product`` column of the same name.

:data:`PRODUCT_FIELDS` is the one place that maps the struct to the model: a new product
field (the gate rules' re-entry, a stay's pricing) is one entry here (how the value is
stored), one in each struct of :mod:`kippu_contract.v1.catalog`, and, if it has a rule,
one check in :func:`check_product`. Every refusal is a 422 ``invalid_product`` naming the
``field``, in Japanese and English, before anything is written.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import Any

from core_service.catalog.rules import MAX_TICKETS_PER_ORDER
from core_service.platform.errors import InvalidInput
from kippu_contract.admission import PRODUCT_KINDS, ProductKind
from kippu_contract.v1.catalog import PriceCategoryIn, ProductIn, SlotIn

#: Product and price codes: letters, digits, "-" and "_"; they appear in shop URLs.
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
MAX_PRODUCT_CODE = 64
MAX_PRICE_CODE = 32
MAX_NAME = 200
MAX_PRICE_NAME = 100
MAX_DESCRIPTION = 5000
MAX_SLOT_LABEL = 16
MAX_SLOTS = 96
MAX_PLACES = 1_000_000
MAX_USES = 1000
MAX_VALIDITY_DAYS = 3660
MAX_CLOSED_DATES = 1000
MAX_SORT = 1_000_000
MAX_YEN = 10_000_000
#: A slot's grace, and a stay's unit and free time, stay within a day.
MAX_MINUTES = 24 * 60
#: The kinds each gate-rule flag means something for (core_service.checkin.rules).
REENTRY_KINDS = (ProductKind.DAY_ADMISSION.value, ProductKind.TIMED_ADMISSION.value)
STAY_PRICE_FIELDS = ("stay_unit_price", "stay_daily_cap", "stay_free_minutes")
TAX_RATES = (10, 8)
CHANNELS = ("web", "kiosk")
VALIDITY_STARTS = ("purchase", "first_use")
#: Kinds sold without a visit date (docs/catalog.md).
OPEN_DATED = (ProductKind.COUPON_BOOK.value, ProductKind.ANNUAL_PASS.value)


class InvalidProduct(InvalidInput):
    code = "invalid_product"

    def __init__(self, field: str, message_en: str, message_ja: str) -> None:
        super().__init__(message_en, message_ja, field=field)


def _slots(slots: list[SlotIn]) -> list[dict[str, Any]]:
    return [{"label": s.label.strip(), "capacity": s.capacity} for s in slots]


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _same(value: Any) -> Any:
    return value


def _text(value: str) -> str:
    return value.strip()


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    # As the column reads it back, so an unchanged instant is not audited as a change.
    return None if moment is None else moment.astimezone(dt.UTC)


#: ``ProductIn`` field -> how its value is stored in the ``Product`` column of that name.
PRODUCT_FIELDS: dict[str, Callable[[Any], Any]] = {
    "code": _text,
    "kind": _same,
    "name_ja": _text,
    "name_en": _text,
    "description_ja": _text,
    "description_en": _text,
    "tax_rate": _same,
    "uses": _same,
    "channels": lambda channels: [c for c in CHANNELS if c in channels],
    "daily_capacity": _same,
    "requires_date": _same,
    "validity_days": _same,
    "validity_start": _same,
    "active": _same,
    "sort_order": _same,
    "slots": _slots,
    "sale_starts_at": _utc,
    "sale_ends_at": _utc,
    "closed_dates": lambda dates: sorted({d.isoformat() for d in dates}),
    "closed_weekdays": lambda days: sorted(set(days)),
    "max_per_order": _same,
    "addon_for": lambda codes: _unique(c.strip() for c in codes),
    "holder_required": _same,
    "coupon_tear_off": _same,
    "reentry_after_exit": _same,
    "rides_use_ticket": _same,
    "slot_grace_minutes": _same,
    "stay_unit_minutes": _same,
    "stay_unit_price": _same,
    "stay_daily_cap": _same,
    "stay_free_minutes": _same,
}


def product_columns(data: ProductIn) -> dict[str, Any]:
    """The ``Product`` column values of ``data`` (checked first: :func:`check_product`)."""
    return {name: store(getattr(data, name)) for name, store in PRODUCT_FIELDS.items()}


def _between(field: str, value: int | None, low: int, high: int, *, optional: bool) -> None:
    if value is None and optional:
        return
    if value is None or not low <= value <= high:
        raise InvalidProduct(
            field,
            f"{field} must be a whole number from {low} to {high}"
            + (" (or empty)." if optional else "."),
            f"{field} は {low} から {high} までの整数で指定してください"
            + ("（空欄も可）。" if optional else "。"),
        )


def check_code(field: str, code: str, longest: int) -> None:
    code = code.strip()
    if not code or len(code) > longest or not CODE.match(code):
        raise InvalidProduct(
            field,
            f"The code must be 1 to {longest} letters, digits, '-' or '_' "
            "(it is part of the shop's address).",
            f"コードは半角英数字・「-」「_」で {longest} 文字以内にしてください"
            "（ショップの URL に使われます）。",
        )


def check_name(field: str, name: str, longest: int) -> None:
    if not name.strip() or len(name.strip()) > longest:
        raise InvalidProduct(
            field,
            f"Enter {field} (at most {longest} characters).",
            f"{field} を {longest} 文字以内で入力してください。",
        )


def _check_texts(data: ProductIn) -> None:
    check_code("code", data.code, MAX_PRODUCT_CODE)
    if data.kind not in PRODUCT_KINDS:
        raise InvalidProduct(
            "kind",
            f"Unknown kind {data.kind!r}; choose one of {', '.join(PRODUCT_KINDS)}.",
            f"種別は次のいずれかにしてください: {', '.join(PRODUCT_KINDS)}",
        )
    check_name("name_ja", data.name_ja, MAX_NAME)
    check_name("name_en", data.name_en, MAX_NAME)
    for field in ("description_ja", "description_en"):
        if len(getattr(data, field)) > MAX_DESCRIPTION:
            raise InvalidProduct(
                field,
                f"{field} is longer than {MAX_DESCRIPTION} characters.",
                f"{field} は {MAX_DESCRIPTION} 文字以内にしてください。",
            )


def _check_numbers(data: ProductIn) -> None:
    if data.tax_rate not in TAX_RATES:
        raise InvalidProduct(
            "tax_rate",
            "The tax rate must be 10 (standard) or 8 (reduced).",
            "税率は 10（標準）または 8（軽減）にしてください。",
        )
    _between("uses", data.uses, 1, MAX_USES, optional=False)
    _between("daily_capacity", data.daily_capacity, 0, MAX_PLACES, optional=True)
    _between("validity_days", data.validity_days, 1, MAX_VALIDITY_DAYS, optional=False)
    _between("sort_order", data.sort_order, -MAX_SORT, MAX_SORT, optional=False)
    _between("max_per_order", data.max_per_order, 1, MAX_TICKETS_PER_ORDER, optional=True)


def _check_sale(data: ProductIn) -> None:
    if not data.channels or not set(data.channels) <= set(CHANNELS):
        raise InvalidProduct(
            "channels",
            "Choose where it is sold: web, kiosk or both.",
            "販売チャネル（web・kiosk）を1つ以上選んでください。",
        )
    for field in ("sale_starts_at", "sale_ends_at"):
        moment = getattr(data, field)
        if moment is not None and moment.utcoffset() is None:
            raise InvalidProduct(
                field,
                f"{field} needs a time zone (e.g. 2026-04-01T10:00:00+09:00).",
                f"{field} にはタイムゾーンを付けてください（例: 2026-04-01T10:00:00+09:00）。",
            )
    if data.sale_starts_at and data.sale_ends_at and data.sale_ends_at <= data.sale_starts_at:
        raise InvalidProduct(
            "sale_ends_at",
            "The end of sales must come after their start.",
            "販売終了日時は販売開始日時より後にしてください。",
        )
    if len(data.closed_dates) > MAX_CLOSED_DATES:
        raise InvalidProduct(
            "closed_dates",
            f"At most {MAX_CLOSED_DATES} closed dates.",
            f"休業日は {MAX_CLOSED_DATES} 日までです。",
        )
    if any(not 0 <= day <= 6 for day in data.closed_weekdays):
        raise InvalidProduct(
            "closed_weekdays",
            "Closed weekdays are 0 (Monday) to 6 (Sunday).",
            "定休曜日は 0（月曜）から 6（日曜）で指定してください。",
        )


def _check_slots(data: ProductIn) -> None:
    timed = data.kind == ProductKind.TIMED_ADMISSION
    if timed and not data.slots:
        raise InvalidProduct(
            "slots",
            "A timed admission needs at least one time slot.",
            "時間指定券には時間帯を1つ以上設定してください。",
        )
    if not timed and data.slots:
        raise InvalidProduct(
            "slots",
            "Only timed admissions have time slots.",
            "時間帯を設定できるのは時間指定券だけです。",
        )
    if timed and not data.requires_date:
        raise InvalidProduct(
            "requires_date",
            "A timed admission is sold for a visit date.",
            "時間指定券は来場日を指定して販売します。",
        )
    labels = [s.label.strip() for s in data.slots]
    if len(labels) > MAX_SLOTS or any(not x or len(x) > MAX_SLOT_LABEL for x in labels):
        raise InvalidProduct(
            "slots",
            f"Give each slot a label of at most {MAX_SLOT_LABEL} characters "
            f"(at most {MAX_SLOTS} slots).",
            f"時間帯には {MAX_SLOT_LABEL} 文字以内のラベルを付けてください（{MAX_SLOTS} 件まで）。",
        )
    if len(set(labels)) != len(labels):
        raise InvalidProduct(
            "slots", "Two slots have the same label.", "同じラベルの時間帯があります。"
        )
    for slot in data.slots:
        _between("slots", slot.capacity, 0, MAX_PLACES, optional=True)


def _check_kind_rules(data: ProductIn, main_codes: set[str]) -> None:
    if data.kind in OPEN_DATED and data.requires_date:
        raise InvalidProduct(
            "requires_date",
            "Coupon books and annual passes are open-dated (no visit date).",
            "回数券・年間パスポートは来場日を指定せずに販売します。",
        )
    if data.validity_start not in VALIDITY_STARTS:
        raise InvalidProduct(
            "validity_start",
            "validity_start must be 'purchase' or 'first_use'.",
            "有効期間の開始は purchase（購入日）か first_use（初回利用日）にしてください。",
        )
    if data.validity_start == "first_use" and data.requires_date:
        raise InvalidProduct(
            "validity_start",
            "Only open-dated products can be valid from their first use.",
            "初回利用日からの有効期間は、来場日を指定しない商品だけに設定できます。",
        )
    if data.coupon_tear_off and data.kind != ProductKind.COUPON_BOOK:
        raise InvalidProduct(
            "coupon_tear_off",
            "Only coupon books have tear-off coupons.",
            "切り離し式にできるのは回数券だけです。",
        )
    codes = [c.strip() for c in data.addon_for]
    if data.kind != ProductKind.ADDON:
        if codes:
            raise InvalidProduct(
                "addon_for",
                "Only add-ons are sold with other products.",
                "ほかの商品と一緒に販売する設定はオプション商品だけです。",
            )
        return
    unknown = sorted(set(codes) - main_codes)
    if not codes or unknown:
        raise InvalidProduct(
            "addon_for",
            "An add-on needs the codes of the main products it is sold with"
            + (f"; unknown: {', '.join(unknown)}." if unknown else "."),
            "オプション商品には一緒に販売する商品のコードを指定してください"
            + (f"（存在しないコード: {', '.join(unknown)}）。" if unknown else "。"),
        )


def _check_gate_rules(data: ProductIn) -> None:
    if data.reentry_after_exit and data.kind not in REENTRY_KINDS:
        raise InvalidProduct(
            "reentry_after_exit",
            "Only day and timed admissions can re-enter after an exit.",
            "再入場を設定できるのは入場券と時間指定券だけです。",
        )
    if data.rides_use_ticket and data.kind != ProductKind.DAY_ADMISSION:
        raise InvalidProduct(
            "rides_use_ticket",
            "Only day admissions can be used up by a ride.",
            "乗り物で使用済みにする設定は入場券だけです。",
        )
    _between("slot_grace_minutes", data.slot_grace_minutes, 0, MAX_MINUTES, optional=False)


def _check_stay(data: ProductIn) -> None:
    if data.kind != ProductKind.TIME_STAY:
        for field in STAY_PRICE_FIELDS:
            if getattr(data, field):
                raise InvalidProduct(
                    field,
                    "Only time stays are charged by the time inside.",
                    "滞在時間で料金を計算できるのは時間制の商品だけです。",
                )
        return
    _between("stay_unit_minutes", data.stay_unit_minutes, 1, MAX_MINUTES, optional=False)
    _between("stay_unit_price", data.stay_unit_price, 0, MAX_YEN, optional=False)
    _between("stay_daily_cap", data.stay_daily_cap, 0, MAX_YEN, optional=False)
    _between("stay_free_minutes", data.stay_free_minutes, 0, MAX_MINUTES, optional=False)


def check_product(data: ProductIn, *, main_codes: set[str]) -> None:
    """Refuse (422 ``invalid_product``, naming the field) what ``data`` gets wrong.

    ``main_codes``: the facility's products an add-on may be sold with (not add-ons,
    not the product itself)."""
    _check_texts(data)
    _check_numbers(data)
    _check_sale(data)
    _check_slots(data)
    _check_kind_rules(data, main_codes)
    _check_gate_rules(data)
    _check_stay(data)


def check_price(data: PriceCategoryIn) -> None:
    """Refuse (422 ``invalid_product``) a price category with a bad code, name or amount."""
    check_code("code", data.code, MAX_PRICE_CODE)
    check_name("name_ja", data.name_ja, MAX_PRICE_NAME)
    check_name("name_en", data.name_en, MAX_PRICE_NAME)
    _between("price", data.price, 0, MAX_YEN, optional=False)
    _between("handling_fee", data.handling_fee, 0, MAX_YEN, optional=False)
    _between("sort_order", data.sort_order, -MAX_SORT, MAX_SORT, optional=False)
