"""Request and response shapes of the JSON API (msgspec Structs, never ORM objects)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec


class FacilityOut(msgspec.Struct):
    id: int
    slug: str
    name_ja: str
    name_en: str
    tax_registration_number: str


class MarkerOut(msgspec.Struct):
    symbol: str
    label_ja: str
    label_en: str
    level: str


class PriceCategoryOut(msgspec.Struct):
    id: int
    code: str
    name_ja: str
    name_en: str
    price: int
    handling_fee: int


class ProductOut(msgspec.Struct):
    id: int
    code: str
    kind: str
    name_ja: str
    name_en: str
    uses: int
    tax_rate: int
    requires_date: bool
    price_categories: list[PriceCategoryOut]
    marker: MarkerOut | None = None


class CheckoutFieldOut(msgspec.Struct):
    name: str
    kind: str
    label_ja: str
    label_en: str
    text_ja: str
    text_en: str
    required: bool


class CatalogOut(msgspec.Struct):
    facility: FacilityOut
    products: list[ProductOut]
    checkout_fields: list[CheckoutFieldOut]
    payment_methods: list[str]


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True):
    price_category_id: int
    quantity: int
    visit_date: dt.date | None = None
    slot: str = ""


class KioskPaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    method: str
    reference: str
    amount: int


class KioskOrderIn(msgspec.Struct, forbid_unknown_fields=True):
    lines: list[OrderLineIn]
    payment: KioskPaymentIn
    answers: dict[str, Any] = {}
    locale: str = "ja"


class OrderLineOut(msgspec.Struct):
    product_name_ja: str
    product_name_en: str
    category_name_ja: str
    category_name_en: str
    quantity: int
    unit_price: int
    handling_fee: int
    tax_rate: int
    line_total: int
    visit_date: dt.date | None


class TaxLineOut(msgspec.Struct):
    rate: int
    total: int
    tax: int


class OrderOut(msgspec.Struct):
    code: str
    channel: str
    status: str
    total: int
    created_at: dt.datetime
    paid_at: dt.datetime | None
    payment_method: str | None
    lines: list[OrderLineOut]
    tax_summary: list[TaxLineOut]


class TicketOut(msgspec.Struct):
    id: int
    status: str
    product_kind: str
    product_name_ja: str
    product_name_en: str
    category_name_ja: str
    category_name_en: str
    price: int
    tax_rate: int
    valid_from: dt.date
    valid_until: dt.date
    uses_total: int
    uses_left: int
    qr_token: str
    #: Tear-off coupon books: the id of the book's first ticket (the same on all N coupons
    #: of one book, so a printer can keep them on one strip), this coupon's 1-based number
    #: and the book's size. None / 0 for every other ticket.
    book_id: int | None = None
    coupon_no: int = 0
    coupon_count: int = 0


class KioskOrderOut(msgspec.Struct):
    order: OrderOut
    tickets: list[TicketOut]
    facility: FacilityOut


class HeartbeatIn(msgspec.Struct):
    printer: str = "unknown"
    paper: str = "unknown"
    terminal: str = "unknown"
    last_sale_at: str | None = None
    version: str = ""


class EnrolIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str


class EnrolOut(msgspec.Struct):
    token: str
    device: dict[str, Any]
    facility: FacilityOut


class ScanIn(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    direction: str = "entry"


class ScanTicketOut(msgspec.Struct):
    id: int
    product_name_ja: str
    product_name_en: str
    uses_left: int
    valid_from: dt.date
    valid_until: dt.date


class ScanOut(msgspec.Struct):
    result: str
    admitted: bool
    message_ja: str
    message_en: str
    ticket: ScanTicketOut | None = None


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    facility: str
    email: str
    password: str


class StaffOut(msgspec.Struct):
    id: int
    email: str
    display_name: str
    role: str


class LoginOut(msgspec.Struct):
    token: str
    role: str
    staff: StaffOut
    facility: FacilityOut


class PublicKeyOut(msgspec.Struct):
    facility: str
    algorithm: str
    public_key: str
    token_format: str
