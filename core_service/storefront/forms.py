"""The web checkout form: what the visitor submitted, checked before any order exists.

The form is read into :class:`CheckoutForm` as the visitor typed it (strings and
booleans), so that a refused form is shown again exactly as it was filled in. Errors are
kept per field name, in both languages, and rendered next to their field.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from litestar.datastructures import FormMultiDict

from core_service.catalog.rules import MAX_PHOTO_BYTES, MAX_TICKETS_PER_ORDER, Holder, photo_type
from core_service.mailing.addresses import is_email_address
from core_service.models import Product
from core_service.orders.requests import CheckoutRequest, LineRequest
from core_service.plugins.values import CheckoutField, FieldError

# Deliberately loose: the confirmation mail is the real test of an address.
QUANTITY_PREFIX = "qty_"
#: Form-level errors (sold out, payment unavailable) are shown above the form.
FORM = "form"
#: Most holder blocks a pass form shows (one pass each).
MAX_HOLDERS = 10


@dataclass(slots=True)
class HolderForm:
    """One pass holder block as typed; the photo travels as base64 once uploaded, since
    a browser never refills a file input on a page shown again."""

    category: str = ""
    name: str = ""
    birth_date: str = ""
    photo_data: str = ""
    photo_type: str = ""

    @property
    def blank(self) -> bool:
        return not (self.name or self.birth_date or self.photo_data)


@dataclass(slots=True)
class CheckoutForm:
    """The checkout form as submitted; strings as typed, so it can be shown again."""

    visit_date: str = ""
    quantities: dict[int, str] = field(default_factory=dict)
    email: str = ""
    name: str = ""
    marketing_opt_in: bool = False
    answers: dict[str, Any] = field(default_factory=dict)
    payment: str = ""
    checkout_id: str = ""
    #: Time slot label of a timed admission.
    slot: str = ""
    #: Pass holders (products with ``holder_required``), one per pass.
    holders: list[HolderForm] = field(default_factory=list)
    #: Photo problems found while reading the upload, by holder index.
    photo_errors: dict[int, str] = field(default_factory=dict)
    #: A discount code, as typed (``core_service.vouchers``).
    voucher_code: str = ""

    @classmethod
    def parse(
        cls,
        form: FormMultiDict,
        product: Product,
        fields: list[CheckoutField],
        addons: list[Product] | None = None,
    ) -> CheckoutForm:
        categories = [c for p in [product, *(addons or [])] for c in p.price_categories]
        quantities = {
            c.id: (form.get(f"{QUANTITY_PREFIX}{c.id}") or "").strip() for c in categories
        }
        answers: dict[str, Any] = {}
        for f in fields:
            if f.kind == "checkbox":
                answers[f.name] = form.get(f.name) in ("on", "true", "1", "yes")
            else:
                answers[f.name] = (form.get(f.name) or "").strip()
        return (
            cls(
                visit_date=(form.get("visit_date") or "").strip(),
                quantities=quantities,
                email=(form.get("email") or "").strip(),
                name=(form.get("name") or "").strip()[:200],
                marketing_opt_in=form.get("marketing_opt_in") in ("on", "true", "1", "yes"),
                answers=answers,
                payment=(form.get("payment") or "").strip(),
                checkout_id=(form.get("checkout_id") or "").strip()[:64],
                slot=(form.get("slot") or "").strip()[:16],
                voucher_code=(form.get("voucher_code") or "").strip()[:32],
            )
            ._with_visit_slot(form)
            ._with_holders(form, product)
        )

    def _with_visit_slot(self, form: FormMultiDict) -> CheckoutForm:
        # Timed admissions pick date and slot with one radio: "2026-12-01|10:00".
        combined = (form.get("visit_slot") or "").strip()
        if combined:
            day, _, slot = combined.partition("|")
            self.visit_date, self.slot = day[:10], slot[:16]
        return self

    def _with_holders(self, form: FormMultiDict, product: Product) -> CheckoutForm:
        if not product.holder_required:
            return self
        try:
            count = min(max(int(form.get("holder_count") or 1), 1), MAX_HOLDERS)
        except ValueError:
            count = 1
        for i in range(count):
            holder = HolderForm(
                category=(form.get(f"holder_{i}_category") or "").strip(),
                name=(form.get(f"holder_{i}_name") or "").strip()[:200],
                birth_date=(form.get(f"holder_{i}_birth_date") or "").strip(),
                photo_data=(form.get(f"holder_{i}_photo_data") or "").strip(),
                photo_type=(form.get(f"holder_{i}_photo_type") or "").strip()[:32],
            )
            upload = form.get(f"holder_{i}_photo")
            data = getattr(upload, "file", None)
            if data is not None:
                raw = data.read(MAX_PHOTO_BYTES + 1)
                if raw:
                    mime = photo_type(raw)
                    if len(raw) > MAX_PHOTO_BYTES or mime is None:
                        self.photo_errors[i] = "bad"
                    else:
                        holder.photo_data = base64.b64encode(raw).decode()
                        holder.photo_type = mime
            self.holders.append(holder)
        if form.get("action") == "add_holder" and count < MAX_HOLDERS:
            self.holders.append(HolderForm(category=self.holders[-1].category))
        return self

    def holder_photo(self, index: int) -> bytes | None:
        data = self.holders[index].photo_data
        if not data:
            return None
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None


@dataclass(slots=True)
class FormErrors:
    """Problems by field name, each in Japanese and English."""

    by_field: dict[str, FieldError] = field(default_factory=dict)

    def add(self, name: str, en: str, ja: str) -> None:
        self.by_field.setdefault(name, FieldError(name, ja, en))

    def add_field_error(self, error: FieldError) -> None:
        self.by_field.setdefault(error.field, error)

    def __bool__(self) -> bool:
        return bool(self.by_field)

    def get(self, name: str, locale: str) -> str:
        error = self.by_field.get(name)
        return error.message(locale) if error else ""


def validate(
    form: CheckoutForm,
    product: Product,
    *,
    allowed_dates: list[dt.date],
    payment_values: list[str],
    plugin_errors: list[FieldError],
    allowed_slots: list[str] | None = None,
) -> tuple[FormErrors, dt.date | None, dict[int, int]]:
    """Check the form; returns (errors, visit date, quantities by price category id).

    ``allowed_slots`` are the bookable slots of the chosen date (timed admissions).
    For products with holders, the quantities are counted from the holder blocks.
    """
    errors = FormErrors()
    if product.holder_required:
        _validate_holders(form, product, errors)
    visit_date: dt.date | None = None
    if product.requires_date:
        try:
            visit_date = dt.date.fromisoformat(form.visit_date)
        except ValueError:
            errors.add("visit_date", "Choose a visit date.", "来場日を選んでください。")
        else:
            if visit_date not in allowed_dates:
                errors.add(
                    "visit_date", "This date cannot be booked.", "この日はご予約いただけません。"
                )
    quantities: dict[int, int] = {}
    for category_id, raw in form.quantities.items():
        if raw in ("", "0"):
            continue
        if not raw.isdigit():
            errors.add(
                "quantities",
                "Enter the number of tickets as a whole number.",
                "枚数は半角数字で入力してください。",
            )
            continue
        quantities[category_id] = int(raw)
    total = sum(quantities.values())
    if product.slot_labels() and visit_date is not None and "visit_date" not in errors.by_field:
        if not form.slot:
            errors.add("slot", "Choose a time slot.", "時間帯を選んでください。")
        elif form.slot not in (allowed_slots or []):
            errors.add(
                "slot",
                "This time slot cannot be booked. Please choose another.",
                "この時間帯はご予約いただけません。別の時間帯をお選びください。",
            )
    main_ids = {c.id for c in product.price_categories}
    if "quantities" not in errors.by_field and "holders" not in errors.by_field:
        main_total = sum(q for cid, q in quantities.items() if cid in main_ids)
        if total > 0 and main_total == 0:
            errors.add(
                "quantities",
                "Add-ons are sold only together with a ticket.",
                "オプションはチケットと一緒にお求めください。",
            )
        elif product.max_per_order is not None and main_total > product.max_per_order:
            errors.add(
                "quantities",
                f"At most {product.max_per_order} tickets per order.",
                f"1回のご注文は{product.max_per_order}枚までです。",
            )
        if total == 0:
            errors.add(
                "quantities", "Choose at least one ticket.", "チケットを1枚以上選んでください。"
            )
        elif total > MAX_TICKETS_PER_ORDER:
            errors.add(
                "quantities",
                f"At most {MAX_TICKETS_PER_ORDER} tickets per order.",
                f"1回のご注文は{MAX_TICKETS_PER_ORDER}枚までです。",
            )
    if not form.email:
        errors.add(
            "email",
            "Enter your e-mail address; we send your tickets there.",
            "チケットをお送りするメールアドレスを入力してください。",
        )
    elif not is_email_address(form.email):
        errors.add(
            "email",
            "This e-mail address does not look right.",
            "メールアドレスの形式が正しくありません。",
        )
    if form.payment not in payment_values:
        errors.add("payment", "Choose how to pay.", "お支払い方法を選んでください。")
    for error in plugin_errors:
        errors.add_field_error(error)
    return errors, visit_date, quantities


def _validate_holders(form: CheckoutForm, product: Product, errors: FormErrors) -> None:
    """Holder blocks become the quantities: one pass per filled-in block."""
    categories = {str(c.id) for c in product.price_categories}
    for cid in list(form.quantities):
        form.quantities[cid] = ""
    today = dt.date.today()
    for i, holder in enumerate(form.holders):
        if holder.blank and i not in form.photo_errors:
            continue
        key = f"holder_{i}"
        if holder.category not in categories:
            errors.add(key, "Choose the pass type.", "パスの種類を選んでください。")
        elif not holder.name:
            errors.add(key, "Enter the holder's name.", "ご利用者のお名前を入力してください。")
        elif _birth_date(holder.birth_date, today) is None:
            errors.add(
                key,
                "Enter the holder's date of birth (YYYY-MM-DD).",
                "ご利用者の生年月日を入力してください（例: 2010-04-01）。",
            )
        elif i in form.photo_errors:
            errors.add(
                key,
                "The photo must be a JPEG or PNG image of at most 2 MB.",
                "写真は2MB以下のJPEGまたはPNG画像にしてください。",
            )
        if key not in errors.by_field:
            cid = int(holder.category)
            form.quantities[cid] = str(int(form.quantities.get(cid) or 0) + 1)
    if any(k.startswith("holder_") for k in errors.by_field):
        errors.add("holders", "Please check the pass holders.", "ご利用者情報をご確認ください。")


def _birth_date(raw: str, today: dt.date) -> dt.date | None:
    try:
        value = dt.date.fromisoformat(raw)
    except ValueError:
        return None
    return value if today.replace(year=today.year - 120) <= value <= today else None


def holders_by_category(form: CheckoutForm) -> dict[int, tuple[Holder, ...]]:
    """The filled-in holder blocks of a valid pass form, by price category id."""
    grouped: dict[int, list[Holder]] = {}
    for i, holder in enumerate(form.holders):
        birth = _birth_date(holder.birth_date, dt.date.today())
        if holder.blank or birth is None or not holder.category.isdigit():
            continue
        photo = form.holder_photo(i)
        grouped.setdefault(int(holder.category), []).append(
            Holder(holder.name, birth, photo, holder.photo_type if photo else "")
        )
    return {cid: tuple(items) for cid, items in grouped.items()}


def to_checkout_request(
    form: CheckoutForm,
    visit_date: dt.date | None,
    quantities: dict[int, int],
    locale: str,
    *,
    main_category_ids: set[int] | None = None,
) -> CheckoutRequest:
    """The order request; the slot belongs to the main product's lines, not its add-ons."""
    holders = holders_by_category(form)
    main = main_category_ids if main_category_ids is not None else set(quantities)
    return CheckoutRequest(
        channel="web",
        lines=[
            LineRequest(
                cid,
                qty,
                visit_date,
                form.slot if cid in main else "",
                holders.get(cid, ()),
            )
            for cid, qty in quantities.items()
        ],
        locale=locale,
        answers=form.answers,
        customer_email=form.email,
        customer_name=form.name,
        marketing_opt_in=form.marketing_opt_in,
        # A double-clicked submit replays the same checkout instead of buying twice.
        idempotency_key=f"web:{form.checkout_id}" if form.checkout_id else None,
        voucher_code=form.voucher_code,
    )
