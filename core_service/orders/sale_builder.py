"""Every object of a new order (lines, tickets, holders, consents, an immediate
payment), built in memory before either writer writes exactly these.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from core_service.catalog import rules
from core_service.models import (
    ConsentRecord,
    Customer,
    Order,
    OrderLine,
    Payment,
    PaymentEvent,
    PriceCategory,
    Product,
    Ticket,
    utcnow,
)
from core_service.models.catalog import PassHolder
from core_service.orders import sale_statement
from core_service.orders.issuing import new_tickets
from core_service.orders.requests import CheckoutRequest, ImmediatePayment, LineRequest
from core_service.platform.security import new_token
from core_service.platform.tenancy import Tenant
from kippu_contract.states import OrderStatus, PaymentState

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud


def new_order_code() -> str:
    # One read of the system's randomness, not one per letter. 32 letters, so taking
    # each byte modulo 32 is exactly uniform.
    return "".join(_CODE_ALPHABET[byte % 32] for byte in secrets.token_bytes(10))


@dataclass(frozen=True, slots=True)
class PricedLine:
    request: LineRequest
    category: PriceCategory
    product: Product
    visit_date: dt.date

    # The attributes the catalog rules read (see catalog.rules._Line).
    @property
    def quantity(self) -> int:
        return self.request.quantity

    @property
    def slot(self) -> str:
        return self.request.slot

    @property
    def holders(self) -> tuple[rules.Holder, ...]:
        return self.request.holders


def line_total(line: PricedLine) -> int:
    """What the line costs before any voucher: price and handling fee, tax included."""
    return (line.category.price + line.category.handling_fee) * line.request.quantity


@dataclass(frozen=True, slots=True)
class Discount:
    """A voucher applied to the order: its id and code, and the yen off each line."""

    voucher_id: int
    code: str
    per_line: list[int]

    @property
    def total(self) -> int:
        return sum(self.per_line)


def build_sale(
    tenant: Tenant,
    request: CheckoutRequest,
    priced: list[PricedLine],
    total: int,
    hold_minutes: int,
    customer: Customer | None,
    discount: Discount | None = None,
) -> sale_statement.Sale:
    """Every object of the order, not yet written: both writers write exactly these.
    ``total`` is after the ``discount``, if any."""
    now = utcnow()
    per_line = discount.per_line if discount else [0] * len(priced)
    paid = request.payment is not None
    order = Order(
        facility_id=tenant.id,
        code=new_order_code(),
        channel=request.channel,
        status=OrderStatus.PAID if paid else OrderStatus.PENDING,
        paid_at=now if paid else None,
        customer_id=customer.id if customer else None,
        device_id=request.device_id,
        locale=request.locale,
        total=total,
        idempotency_key=request.idempotency_key,
        access_key=new_token(24),
        hold_expires_at=None if paid else now + dt.timedelta(minutes=hold_minutes),
        voucher_id=discount.voucher_id if discount else None,
        voucher_code=discount.code if discount else "",
        discount=discount.total if discount else 0,
    )
    lines = [
        OrderLine(
            facility_id=tenant.id,
            product_id=line.product.id,
            price_category_id=line.category.id,
            product_name_ja=line.product.name_ja,
            product_name_en=line.product.name_en,
            category_name_ja=line.category.name_ja,
            category_name_en=line.category.name_en,
            visit_date=line.visit_date,
            slot=line.slot,
            quantity=line.quantity,
            unit_price=line.category.price,
            handling_fee=line.category.handling_fee,
            tax_rate=line.product.tax_rate,
            line_total=line_total(line) - off,
            discount=off,
        )
        for line, off in zip(priced, per_line, strict=True)
    ]
    holders = _holders(tenant, priced)
    tickets: list[tuple[int, Ticket]] = []
    holder_tickets: list[int | None] = [None] * len(holders)
    payment = event = None
    if paid:
        assert request.payment is not None
        payment, event = immediate_payment(tenant, order, request.payment, now)
        for index, (line, order_line) in enumerate(zip(priced, lines, strict=True)):
            line_holders = [h for i, _, h in holders if i == index]
            first = len(tickets)
            tickets.extend(
                (index, t) for t in new_tickets(tenant, order_line, line.product, line_holders)
            )
            # The holder at position p holds the line's p-th ticket.
            for number, (i, _, holder) in enumerate(holders):
                if i == index:
                    holder_tickets[number] = first + holder.position
    return sale_statement.Sale(
        order=order,
        lines=lines,
        tickets=tickets,
        holders=[(i, t, h) for (i, _, h), t in zip(holders, holder_tickets, strict=True)],
        payment=payment,
        payment_event=event,
        consents=_consents(tenant, request, now),
        first_purchase_customer_id=customer.id if customer is not None and paid else None,
        now=now,
    )


def _holders(tenant: Tenant, priced: list[PricedLine]) -> list[tuple[int, int, PassHolder]]:
    """The pass holders of every line: (line index, position, holder)."""
    return [
        (
            index,
            position,
            PassHolder(
                facility_id=tenant.id,
                position=position,
                name=holder.name.strip()[:200],
                birth_date=holder.birth_date,
                photo=holder.photo,
                photo_type=holder.photo_type,
            ),
        )
        for index, line in enumerate(priced)
        for position, holder in enumerate(line.holders)
    ]


def _consents(tenant: Tenant, request: CheckoutRequest, now: dt.datetime) -> list[ConsentRecord]:
    consents = []
    for field in tenant.plugins.checkout_fields(request.channel):
        if field.is_consent and request.answers.get(field.name) is True:
            text = f"{field.label(request.locale)}\n{field.text(request.locale)}".strip()
            consents.append(
                ConsentRecord(
                    facility_id=tenant.id,
                    plugin=field.plugin,
                    field=field.name,
                    text=text,
                    text_sha256=hashlib.sha256(text.encode()).hexdigest(),
                    locale=request.locale,
                    accepted_at=now,
                )
            )
    return consents


def immediate_payment(
    tenant: Tenant, order: Order, payment: ImmediatePayment, now: dt.datetime
) -> tuple[Payment, PaymentEvent]:
    record = Payment(
        facility_id=tenant.id,
        provider=payment.provider,
        method=payment.method,
        state=PaymentState.PAID,
        amount=payment.amount,
        provider_ref=payment.reference,
        idempotency_key=order.idempotency_key,
    )
    event = PaymentEvent(
        facility_id=tenant.id,
        at=now,
        from_state=PaymentState.CREATED,
        to_state=PaymentState.PAID,
        detail={"reference": payment.reference},
    )
    return record, event
