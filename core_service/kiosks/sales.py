"""A kiosk sale: the terminal has been paid; place the order and answer with its tickets.

This is the kiosk's hot path (see docs/benchmarks.md): besides placing the order it only
checks a restricted kiosk's allowed products, against the tenant's cached catalog when
there is one. The idempotency key is scoped to the device, so two kiosks may send the same
key; a retried request returns the first order (``created`` False) instead of selling twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core_service.facilities.presenters import facility_out
from core_service.kiosks.assortment import check_sellable
from core_service.kiosks.holders import kiosk_holders
from core_service.kiosks.schemas import (
    KioskOrderIn,
    KioskOrderOut,
    OrderLineIn,
    VoucherQuoteIn,
    VoucherQuoteOut,
)
from core_service.orders.placement import place_order, quote_discount
from core_service.orders.presenters import order_out, tickets_out
from core_service.orders.requests import CheckoutRequest, ImmediatePayment, LineRequest
from core_service.platform.errors import InvalidInput
from core_service.platform.principals import DevicePrincipal
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant

#: What a kiosk's payment terminal can take; a facility may offer fewer.
KIOSK_PAYMENT_METHODS = ("card", "emoney", "qr")
#: The provider name of payments taken at the kiosk's own terminal.
TERMINAL_PROVIDER = "kiosk_terminal"


@dataclass(frozen=True, slots=True)
class KioskSale:
    body: KioskOrderOut
    #: False when the idempotency key was seen before: the first sale's answer again.
    created: bool


def _line_requests(lines: list[OrderLineIn]) -> list[LineRequest]:
    return [
        LineRequest(
            line.price_category_id,
            line.quantity,
            line.visit_date,
            line.slot,
            kiosk_holders(line.holders),
        )
        for line in lines
    ]


async def voucher_quote(
    session: AsyncSession, tenant: Tenant, device: DevicePrincipal, quote: VoucherQuoteIn
) -> VoucherQuoteOut:
    """What the typed code takes off this cart and what the terminal is to charge."""
    await check_sellable(session, tenant, device, (line.price_category_id for line in quote.lines))
    checkout = CheckoutRequest(
        channel="kiosk",
        lines=_line_requests(quote.lines),
        device_id=device.id,
        voucher_code=quote.voucher_code,
    )
    before, discount = await quote_discount(session, tenant, checkout)
    return VoucherQuoteOut(discount.code, discount.total, before - discount.total)


async def sell(
    session: AsyncSession,
    tenant: Tenant,
    device: DevicePrincipal,
    order: KioskOrderIn,
    *,
    idempotency_key: str,
    settings: Settings,
) -> KioskSale:
    """Place the kiosk's paid order (or find the one placed with this key)."""
    if order.payment.method not in KIOSK_PAYMENT_METHODS:
        raise InvalidInput(f"Unknown kiosk payment method {order.payment.method!r}.")
    await check_sellable(session, tenant, device, (line.price_category_id for line in order.lines))
    checkout = CheckoutRequest(
        channel="kiosk",
        lines=_line_requests(order.lines),
        locale=order.locale if order.locale in ("ja", "en") else "ja",
        answers=order.answers,
        idempotency_key=f"kiosk:{device.id}:{idempotency_key}",
        device_id=device.id,
        payment=ImmediatePayment(
            TERMINAL_PROVIDER, order.payment.method, order.payment.reference, order.payment.amount
        ),
        voucher_code=order.voucher_code,
    )
    placed, created = await place_order(
        session, tenant, checkout, hold_minutes=settings.hold_minutes
    )
    body = KioskOrderOut(
        order=await order_out(
            session, placed, payment_method=order.payment.method if created else None
        ),
        tickets=await tickets_out(session, tenant.facility, placed, settings.secret_key),
        facility=facility_out(tenant.facility),
    )
    return KioskSale(body, created)
