"""The web checkout form: what the visitor submitted, checked before any order exists.

The form is read into :class:`CheckoutForm` as the visitor typed it (strings and
booleans), so that a refused form is shown again exactly as it was filled in. Errors are
kept per field name, in both languages, and rendered next to their field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from litestar.datastructures import FormMultiDict

from ..models import Product
from ..plugin_api import CheckoutField, FieldError
from ..sales.requests import CheckoutRequest, LineRequest
from ..sales.service import MAX_TICKETS_PER_ORDER

# Deliberately loose: the confirmation mail is the real test of an address.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
QUANTITY_PREFIX = "qty_"
#: Form-level errors (sold out, payment unavailable) are shown above the form.
FORM = "form"


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

    @classmethod
    def parse(
        cls, form: FormMultiDict, product: Product, fields: list[CheckoutField]
    ) -> CheckoutForm:
        quantities = {
            c.id: (form.get(f"{QUANTITY_PREFIX}{c.id}") or "").strip()
            for c in product.price_categories
        }
        answers: dict[str, Any] = {}
        for f in fields:
            if f.kind == "checkbox":
                answers[f.name] = form.get(f.name) in ("on", "true", "1", "yes")
            else:
                answers[f.name] = (form.get(f.name) or "").strip()
        return cls(
            visit_date=(form.get("visit_date") or "").strip(),
            quantities=quantities,
            email=(form.get("email") or "").strip(),
            name=(form.get("name") or "").strip()[:200],
            marketing_opt_in=form.get("marketing_opt_in") in ("on", "true", "1", "yes"),
            answers=answers,
            payment=(form.get("payment") or "").strip(),
            checkout_id=(form.get("checkout_id") or "").strip()[:64],
        )


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
) -> tuple[FormErrors, dt.date | None, dict[int, int]]:
    """Check the form; returns (errors, visit date, quantities by price category id)."""
    errors = FormErrors()
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
    if "quantities" not in errors.by_field:
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
    elif not EMAIL_PATTERN.match(form.email) or len(form.email) > 254:
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


def to_checkout_request(
    form: CheckoutForm, visit_date: dt.date | None, quantities: dict[int, int], locale: str
) -> CheckoutRequest:
    return CheckoutRequest(
        channel="web",
        lines=[LineRequest(cid, qty, visit_date) for cid, qty in quantities.items()],
        locale=locale,
        answers=form.answers,
        customer_email=form.email,
        customer_name=form.name,
        marketing_opt_in=form.marketing_opt_in,
        # A double-clicked submit replays the same checkout instead of buying twice.
        idempotency_key=f"web:{form.checkout_id}" if form.checkout_id else None,
    )
