"""The kiosk API (``/api/v1/kiosk/*``): enrolment, catalog, orders, stay charges,
heartbeats, staff calls.

The core encodes these and the kiosk driver decodes the very same structs. The heartbeat
is lenient on purpose: an older driver that sends fewer fields, or a newer one that sends
more, must still be heard, because a silent kiosk is worse than a partially described one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from kippu_contract.v1.common import FacilityOut


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


class SlotOut(msgspec.Struct):
    """One time slot of a timed admission today, with its marker (〇△×) as the web shows it."""

    slot: str
    #: Places left; None when the slot has no capacity limit.
    remaining: int | None
    sold_out: bool
    marker: MarkerOut | None = None


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
    #: Today's time slots of a timed admission (empty for other products): one is chosen.
    slots: list[SlotOut] = []
    #: Passes: each ticket needs a holder (name and date of birth; a photo is optional).
    holder_required: bool = False
    #: Add-ons are sold only with a main product: of ``addon_for`` (codes) when it is set.
    is_addon: bool = False
    addon_for: list[str] = []


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


class HolderIn(msgspec.Struct, forbid_unknown_fields=True):
    """The holder of one pass, as entered at the kiosk."""

    name: str
    birth_date: dt.date | None = None
    #: An optional photo (JPEG or PNG, base64), taken with the kiosk's camera.
    photo: str = ""


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True):
    price_category_id: int
    quantity: int
    visit_date: dt.date | None = None
    slot: str = ""
    #: One holder per ticket for products with ``holder_required`` (annual passes).
    holders: list[HolderIn] = []


class KioskPaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    method: str
    reference: str
    amount: int


class KioskOrderIn(msgspec.Struct, forbid_unknown_fields=True):
    lines: list[OrderLineIn]
    payment: KioskPaymentIn
    answers: dict[str, Any] = {}
    locale: str = "ja"
    #: A discount code the visitor typed; ``payment.amount`` is the total after it.
    voucher_code: str = ""


class VoucherQuoteIn(msgspec.Struct, forbid_unknown_fields=True):
    """A cart and a typed code: what the code takes off, before the terminal charges."""

    lines: list[OrderLineIn]
    voucher_code: str


class VoucherQuoteOut(msgspec.Struct):
    #: The code as the facility spells it (upper case).
    voucher_code: str
    #: Yen off the cart, and what to charge (``payment.amount`` of the order).
    discount: int
    total: int


class OrderLineOut(msgspec.Struct):
    product_name_ja: str
    product_name_en: str
    category_name_ja: str
    category_name_en: str
    quantity: int
    unit_price: int
    handling_fee: int
    tax_rate: int
    #: After ``discount`` (yen a voucher took off this line), tax included.
    line_total: int
    visit_date: dt.date | None
    discount: int = 0


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
    #: The voucher code used ("" for none) and the yen it took off in all.
    voucher_code: str = ""
    discount: int = 0


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
    #: A timed admission's time slot ("10:00"), printed beside the date; "" otherwise.
    slot: str = ""
    #: A pass's holder, printed on it; "" for tickets without a holder.
    holder_name: str = ""


class KioskOrderOut(msgspec.Struct):
    order: OrderOut
    tickets: list[TicketOut]
    facility: FacilityOut


class EnrolIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str


class EnrolOut(msgspec.Struct):
    token: str
    device: dict[str, Any]
    facility: FacilityOut


class KioskHeartbeatIn(msgspec.Struct):
    printer: str = "unknown"  # ok / offline / paper_out / cover_open / unknown
    paper: str = "unknown"  # ok / near_end / out / unknown
    terminal: str = "unknown"  # ok / offline / unknown
    last_sale_at: str | None = None
    version: str = ""
    #: Why the kiosk is not selling right now (None while it sells).
    out_of_service: str | None = None
    #: Sales waiting for the core (paid) or the printer (confirmed), and refunds staff owe.
    unconfirmed: int = 0
    unprinted: int = 0
    void_failed: int = 0


class StaffCallIn(msgspec.Struct):
    reason: str = "visitor"  # visitor / printer / payment / ...
    detail: str = ""


class StaffCallOut(msgspec.Struct):
    open: bool
    reason: str
    detail: str
    at: str
    closed_at: str | None = None


class StayChargeOut(msgspec.Struct):
    """What an open time stay owes now (``GET /api/v1/kiosk/stays/charge?token=``).

    To pay it, the kiosk takes ``due`` on its terminal and sends ``period_total`` back
    with the payment (``POST /api/v1/kiosk/stays/orders``): the pair names the period
    paid for, so a retried request cannot charge it twice.
    """

    ticket_id: int
    product_name_ja: str
    product_name_en: str
    entered_at: dt.datetime
    computed_at: dt.datetime
    #: Whole minutes stayed by ``computed_at``.
    minutes: int
    #: The stay's whole price by ``computed_at``; ``paid`` of it is paid, ``due`` is owed.
    period_total: int
    paid: int
    due: int
    tax_rate: int
    message_ja: str
    message_en: str


class StayOrderIn(msgspec.Struct, forbid_unknown_fields=True):
    """Pay a stay's charge taken on the kiosk's terminal."""

    token: str
    period_total: int
    payment: KioskPaymentIn
    locale: str = "ja"
