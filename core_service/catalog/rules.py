"""Catalog rules a sale must satisfy, checked before any place is reserved.

One function per rule, each raising :class:`InvalidInput` with a message in Japanese and
English, so the web form, the kiosk API and the tests all see the same refusal:

- sales window (``Product.sale_starts_at`` / ``sale_ends_at``);
- channel (``Product.channels``) and activity;
- closed days: the product's ``closed_dates`` / ``closed_weekdays`` and the facility's
  ``settings["closed_dates"]`` / ``settings["closed_weekdays"]``;
- time slots: a timed admission needs one of its slots, other products none;
- maximum per order: per product (``max_per_order``) and the global cap;
- add-ons are sold only with a main product (of ``addon_for`` when it is set);
- products with ``holder_required`` need one holder (name, birth date) per ticket.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core_service.models import Product
from core_service.platform.errors import InvalidInput

#: Global cap on tickets in one order, whatever the products allow.
MAX_TICKETS_PER_ORDER = 50
#: Largest accepted holder photo (bytes); card printers need far less.
MAX_PHOTO_BYTES = 2 * 1024 * 1024
PHOTO_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


class _Line(Protocol):
    """What the rules need of a priced order line."""

    @property
    def product(self) -> Product: ...
    @property
    def visit_date(self) -> dt.date: ...
    @property
    def quantity(self) -> int: ...
    @property
    def slot(self) -> str: ...
    @property
    def holders(self) -> Sequence[Any]: ...


@dataclass(frozen=True, slots=True)
class Holder:
    """The holder of one pass, as captured at checkout."""

    name: str
    birth_date: dt.date
    photo: bytes | None = None
    photo_type: str = ""


def photo_type(data: bytes) -> str | None:
    """The MIME type of a JPEG or PNG photo, None for anything else."""
    for magic, mime in PHOTO_TYPES.items():
        if data.startswith(magic):
            return mime
    return None


# --- single rules -------------------------------------------------------------------


def sale_window_error(product: Product, now: dt.datetime) -> InvalidInput | None:
    """Why ``product`` cannot be sold at ``now``, or None while it is on sale."""
    if product.sale_starts_at is not None and now < product.sale_starts_at:
        when = product.sale_starts_at.date().isoformat()
        return InvalidInput(
            f"{product.name_en} goes on sale on {when}.",
            f"{product.name_ja}は{when}から販売します。",
            code="not_on_sale_yet",
        )
    if product.sale_ends_at is not None and now >= product.sale_ends_at:
        return InvalidInput(
            f"Sales of {product.name_en} have ended.",
            f"{product.name_ja}の販売は終了しました。",
            code="sales_ended",
        )
    return None


def is_closed(facility_settings: dict[str, Any], product: Product, date: dt.date) -> bool:
    """Whether ``date`` is a closed day of the facility or of the product."""
    iso = date.isoformat()
    weekday = date.weekday()
    for source in (
        facility_settings,
        {"closed_dates": product.closed_dates, "closed_weekdays": product.closed_weekdays},
    ):
        if iso in (source.get("closed_dates") or []):
            return True
        if weekday in [int(d) for d in source.get("closed_weekdays") or []]:
            return True
    return False


def check_slot(product: Product, slot: str) -> None:
    labels = product.slot_labels()
    if labels and slot not in labels:
        raise InvalidInput(
            f"Choose a time slot for {product.name_en}.",
            f"{product.name_ja}の時間帯を選んでください。",
            code="slot_required",
        )
    if not labels and slot:
        raise InvalidInput(
            f"{product.name_en} has no time slots.",
            f"{product.name_ja}には時間帯の指定はありません。",
            code="no_slots",
        )


def check_quantities(lines: Iterable[_Line]) -> None:
    """The global cap and each product's ``max_per_order``."""
    per_product: dict[int, int] = defaultdict(int)
    products: dict[int, Product] = {}
    total = 0
    for line in lines:
        if line.quantity < 1:
            raise InvalidInput("Quantities must be at least 1.", "枚数は1以上にしてください。")
        per_product[line.product.id] += line.quantity
        products[line.product.id] = line.product
        total += line.quantity
    if total > MAX_TICKETS_PER_ORDER:
        raise InvalidInput(
            f"At most {MAX_TICKETS_PER_ORDER} tickets per order.",
            f"1回のご注文は{MAX_TICKETS_PER_ORDER}枚までです。",
            code="too_many",
        )
    for product_id, count in per_product.items():
        product = products[product_id]
        if product.max_per_order is not None and count > product.max_per_order:
            raise InvalidInput(
                f"At most {product.max_per_order} of {product.name_en} per order.",
                f"{product.name_ja}は1回のご注文につき{product.max_per_order}枚までです。",
                code="too_many",
            )


def check_addons(lines: Sequence[_Line]) -> None:
    """Every add-on comes with a main product it may be sold with."""
    mains = {line.product.code for line in lines if not line.product.is_addon}
    for line in lines:
        product = line.product
        if not product.is_addon:
            continue
        allowed = set(product.addon_for or []) or mains
        if not mains & allowed:
            raise InvalidInput(
                f"{product.name_en} is sold only together with an admission ticket.",
                f"{product.name_ja}は入場券と一緒にお求めください。",
                code="addon_without_main",
            )


def check_holders(line: _Line) -> None:
    """One complete holder per ticket where the product needs holders, none elsewhere."""
    if not line.product.holder_required:
        if line.holders:
            # Only a tampered client sends them: a holder would otherwise be stored on a
            # ticket that never shows it.
            raise InvalidInput(
                f"{line.product.name_en} has no holders.",
                f"{line.product.name_ja}にはご利用者情報は不要です。",
                code="no_holders",
            )
        return
    product = line.product
    if len(line.holders) != line.quantity:
        raise InvalidInput(
            f"Enter the holder's name and date of birth for each {product.name_en}.",
            f"{product.name_ja}1枚ごとにご利用者のお名前と生年月日を入力してください。",
            code="holder_required",
        )
    for holder in line.holders:
        if not holder.name.strip() or holder.birth_date is None:
            raise incomplete_holder()
        if holder.photo is not None and (
            len(holder.photo) > MAX_PHOTO_BYTES or photo_type(holder.photo) is None
        ):
            raise bad_photo()


def incomplete_holder() -> InvalidInput:
    """The refusal of a holder without a name or a date of birth."""
    return InvalidInput(
        "Enter the holder's name and date of birth.",
        "ご利用者のお名前と生年月日を入力してください。",
        code="holder_required",
    )


def bad_photo() -> InvalidInput:
    """The refusal of a holder photo that is not a JPEG or PNG of at most 2 MB."""
    return InvalidInput(
        "The photo must be a JPEG or PNG image of at most 2 MB.",
        "写真は2MB以下のJPEGまたはPNG画像にしてください。",
        code="bad_photo",
    )


# --- all rules of one order ---------------------------------------------------------


def check_order(
    lines: Sequence[_Line],
    *,
    channel: str,
    facility_settings: dict[str, Any],
    now: dt.datetime,
    today: dt.date,
) -> None:
    """Raise :class:`InvalidInput` for the first rule the order breaks."""
    check_quantities(lines)
    for line in lines:
        product = line.product
        if not product.active or channel not in product.channels:
            raise InvalidInput(
                f"{product.name_en} is not sold here.",
                f"{product.name_ja}はこちらでは販売していません。",
            )
        error = sale_window_error(product, now)
        if error is not None:
            raise error
        if line.visit_date < today:
            raise InvalidInput("The visit date has passed.", "来場日が過ぎています。")
        if product.requires_date and is_closed(facility_settings, product, line.visit_date):
            day = line.visit_date.isoformat()
            raise InvalidInput(
                f"We are closed on {day}. Please choose another date.",
                f"{day}は休業日です。別の日をお選びください。",
                code="closed",
            )
        check_slot(product, line.slot)
        check_holders(line)
    check_addons(lines)


#: How long a pass valid "from first use" may wait for its first use.
FIRST_USE_WITHIN_DAYS = 365


def validity(product: Product, start: dt.date) -> tuple[dt.date, dt.date]:
    """(valid from, valid until) of a ticket issued for ``start`` (visit or purchase day).

    A pass valid from its first use cannot know that day yet: it is issued valid from
    the purchase day for ``FIRST_USE_WITHIN_DAYS`` plus its length, and
    :func:`first_use_valid_until` gives the end date to set at the first entry.
    """
    days = max(product.validity_days, 1)
    if product.validity_start == "first_use":
        return start, start + dt.timedelta(days=FIRST_USE_WITHIN_DAYS + days - 1)
    return start, start + dt.timedelta(days=days - 1)


def first_use_valid_until(product: Product, first_use: dt.date) -> dt.date:
    """The last valid day of a "first use" pass first used on ``first_use``."""
    return first_use + dt.timedelta(days=max(product.validity_days, 1) - 1)
