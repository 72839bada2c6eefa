"""Paying a time stay at a kiosk: read the stay QR, show the charge, sell it on the terminal.

The kiosk asks for the charge of a stay (:func:`stay_charge`), takes ``due`` on its
terminal and sends the payment with the quoted ``period_total`` (:func:`pay_stay`): the
core places a paid charge order (:mod:`core_service.checkin.stay_charges`) and answers as
a kiosk sale does, with the order (no tickets: the stay ticket stays the visitor's).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core_service.checkin.stay_charges import charge_order
from core_service.checkin.stays import StayQuote, due_messages, quote_token
from core_service.facilities.presenters import facility_out
from core_service.kiosks.sales import KIOSK_PAYMENT_METHODS, TERMINAL_PROVIDER, KioskSale
from core_service.kiosks.schemas import KioskOrderOut, StayChargeOut, StayOrderIn
from core_service.orders.presenters import order_out
from core_service.orders.requests import ImmediatePayment
from core_service.platform.errors import InvalidInput
from core_service.platform.principals import DevicePrincipal
from core_service.platform.tenancy import Tenant


def charge_out(quote: StayQuote) -> StayChargeOut:
    if quote.due:
        ja, en = due_messages(quote.due)
    else:
        ja, en = (
            "お支払いは不要です。出口へお進みください。",
            "Nothing to pay: please go to the exit.",
        )
    return StayChargeOut(
        ticket_id=quote.ticket.id,
        product_name_ja=quote.product.name_ja,
        product_name_en=quote.product.name_en,
        entered_at=quote.visit.entered_at,
        computed_at=quote.computed_at,
        minutes=quote.minutes,
        period_total=quote.period_total,
        paid=quote.paid,
        due=quote.due,
        tax_rate=quote.product.tax_rate,
        message_ja=ja,
        message_en=en,
    )


async def stay_charge(session: AsyncSession, tenant: Tenant, token: str) -> StayChargeOut:
    """What the stay of the ticket QR ``token`` owes now."""
    return charge_out(await quote_token(session, tenant, token))


async def pay_stay(
    session: AsyncSession, tenant: Tenant, device: DevicePrincipal, request: StayOrderIn
) -> KioskSale:
    """The paid charge order for the quoted period (or the one already placed for it)."""
    if request.payment.method not in KIOSK_PAYMENT_METHODS:
        raise InvalidInput(f"Unknown kiosk payment method {request.payment.method!r}.")
    quote = await quote_token(session, tenant, request.token)
    payment = request.payment
    order, created = await charge_order(
        session,
        tenant,
        quote,
        channel="kiosk",
        period_total=request.period_total,
        payment=ImmediatePayment(
            TERMINAL_PROVIDER, payment.method, payment.reference, payment.amount
        ),
        device_id=device.id,
        locale=request.locale,
    )
    body = KioskOrderOut(
        order=await order_out(session, order, payment_method=payment.method if created else None),
        tickets=[],
        facility=facility_out(tenant.facility),
    )
    return KioskSale(body, created)
