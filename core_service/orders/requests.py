"""What a checkout asks for, independent of the channel it came through."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from core_service.catalog.rules import Holder


@dataclass(frozen=True, slots=True)
class LineRequest:
    price_category_id: int
    quantity: int
    visit_date: dt.date | None = None
    slot: str = ""
    #: One holder per ticket, for products that need holders (annual passes).
    holders: tuple[Holder, ...] = ()


@dataclass(frozen=True, slots=True)
class ImmediatePayment:
    """A payment already taken (kiosk terminal approval) when the order is placed."""

    provider: str
    method: str
    reference: str
    amount: int


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    channel: str
    lines: list[LineRequest]
    locale: str = "ja"
    answers: dict[str, Any] = field(default_factory=dict)
    customer_email: str | None = None
    customer_name: str = ""
    marketing_opt_in: bool = False
    idempotency_key: str | None = None
    device_id: int | None = None
    payment: ImmediatePayment | None = None
    #: A discount code typed by the visitor (``core_service.vouchers``); "" for none.
    voucher_code: str = ""
