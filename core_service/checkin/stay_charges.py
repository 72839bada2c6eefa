"""Paying a time stay's charge: a normal order of one line, at the kiosk or on the web.

The charge of a quote (:class:`~core_service.checkin.stays.StayQuote`) becomes an order
with one line of the stay product at the amount due and the product's tax rate, so
receipts, refunds, exports and the payment flow treat it as any other order; a
:class:`~core_service.models.StayCharge` row in the same transaction links it to the
stay. Its lines issue no tickets when it is paid (``orders.issuing`` skips them).

The order's idempotency key is derived from the stay and the period it pays for (the
stay's whole price at the quote, and the channel), so paying the same period twice —
a retried kiosk request, a double click on the pay button — returns the first order
instead of charging again. A later period has a higher whole price and so a new key; so
does the same period after its charge expired unpaid or was cancelled (``void_charges``).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.checkin.stays import StayQuote
from core_service.models import Order, OrderLine, StayCharge, utcnow
from core_service.orders import sale_statement
from core_service.orders.issuing import announce_paid
from core_service.orders.queries import find_order_by_key
from core_service.orders.requests import ImmediatePayment
from core_service.orders.sale_builder import immediate_payment, new_order_code
from core_service.orders.writer import write_with_orm
from core_service.platform.errors import Conflict
from core_service.platform.security import new_token
from core_service.platform.tenancy import Tenant, refresh_after_rollback
from core_service.webhooks import outbox
from kippu_contract.facility_time import facility_today
from kippu_contract.states import OrderStatus


class NothingDue(Conflict):
    code = "nothing_due"


class ChargeChanged(Conflict):
    """The quote the client pays is not the current one (time passed a unit boundary)."""

    code = "charge_changed"


def charge_key(quote: StayQuote, channel: str, period_total: int) -> str:
    """The idempotency key of paying the period whose whole price is ``period_total``
    through ``channel``; a new one after a charge expired unpaid or was cancelled."""
    return f"stay:{quote.visit.id}:{period_total}:{channel}:{quote.void_charges}"


async def charge_order(
    session: AsyncSession,
    tenant: Tenant,
    quote: StayQuote,
    *,
    channel: str,
    period_total: int,
    payment: ImmediatePayment | None = None,
    device_id: int | None = None,
    hold_minutes: int = 30,
    locale: str = "ja",
) -> tuple[Order, bool]:
    """The order paying the period whose whole price is ``period_total``; (order, created).

    A replay of the period returns its first order. A new one must be for the current
    quote (``period_total`` equal to it, a payment of exactly ``quote.due``); it is paid
    at once when ``payment`` is given (kiosk terminal), else pending for the web flow."""
    key = charge_key(quote, channel, period_total)
    existing = await find_order_by_key(session, tenant, key)
    if existing is not None:
        return existing, False
    _check(quote, period_total, payment)
    # The stay ticket's buyer, so that the charge shows on their My Page too.
    customer_id = await session.scalar(
        sa.select(Order.customer_id).where(Order.id == quote.ticket.order_id)
    )
    order = _build(tenant, quote, key, channel, payment, device_id, hold_minutes, locale)
    order.customer_id = customer_id
    try:
        await _write(session, tenant, quote, order, payment)
    except IntegrityError:
        # The same period paid at the same moment by a retry: the first one stands.
        await session.rollback()
        await refresh_after_rollback(session, tenant)
        existing = await find_order_by_key(session, tenant, key)
        if existing is None:
            raise
        return existing, False
    if order.status == OrderStatus.PAID:
        await announce_paid(tenant, order)
    return order, True


def _check(quote: StayQuote, period_total: int, payment: ImmediatePayment | None) -> None:
    if quote.due <= 0:
        raise NothingDue("Nothing is due for this stay.", "お支払いいただく利用料金はありません。")
    if period_total != quote.period_total or (payment is not None and payment.amount != quote.due):
        raise ChargeChanged(
            f"The charge is now {quote.due} yen; please check it again.",
            f"利用料金が {quote.due} 円に変わりました。もう一度ご確認ください。",
            due=quote.due,
            period_total=quote.period_total,
        )


def _build(
    tenant: Tenant,
    quote: StayQuote,
    key: str,
    channel: str,
    payment: ImmediatePayment | None,
    device_id: int | None,
    hold_minutes: int,
    locale: str,
) -> Order:
    now = utcnow()
    paid = payment is not None
    product, ticket = quote.product, quote.ticket
    minutes = quote.minutes
    line = OrderLine(
        facility_id=tenant.id,
        product_id=product.id,
        price_category_id=ticket.price_category_id,
        product_name_ja=product.name_ja,
        product_name_en=product.name_en,
        category_name_ja=f"利用料金（{minutes}分）",
        category_name_en=f"Stay charge ({minutes} min)",
        visit_date=facility_today(tenant.facility.timezone, quote.visit.entered_at),
        slot="",
        quantity=1,
        unit_price=quote.due,
        handling_fee=0,
        tax_rate=product.tax_rate,
        line_total=quote.due,
    )
    return Order(
        facility_id=tenant.id,
        code=new_order_code(),
        channel=channel,
        status=OrderStatus.PAID if paid else OrderStatus.PENDING,
        paid_at=now if paid else None,
        device_id=device_id,
        locale=locale if locale in ("ja", "en") else "ja",
        total=quote.due,
        idempotency_key=key,
        access_key=new_token(24),
        hold_expires_at=None if paid else now + dt.timedelta(minutes=hold_minutes),
        lines=[line],
    )


def _announcement(
    tenant: Tenant, subscribed: outbox.Subscriptions, order: Order
) -> outbox.Announcement | None:
    """``order.paid`` of a charge paid at once (it issues no tickets), if anyone listens."""
    if not outbox.wants_paid_order(subscribed):
        return None
    return lambda: outbox.paid_order_events(tenant, subscribed, order, [], {})


async def _write(
    session: AsyncSession,
    tenant: Tenant,
    quote: StayQuote,
    order: Order,
    payment: ImmediatePayment | None,
) -> None:
    """The order, its payment (if paid), its StayCharge and, if paid, its ``order.paid``
    webhook events in one transaction."""
    sale_payment = event = None
    announce = None
    if payment is not None:
        sale_payment, event = immediate_payment(tenant, order, payment, utcnow())
        announce = _announcement(tenant, await outbox.subscriptions(session, tenant), order)
    # Pending in the session, the charge is flushed with the order (its relationship
    # fills order_id) and committed by the writer in the same transaction.
    session.add(
        StayCharge(
            facility_id=tenant.id,
            stay_visit_id=quote.visit.id,
            order=order,
            amount=quote.due,
            period_total=quote.period_total,
            computed_at=quote.computed_at,
        )
    )
    sale = sale_statement.Sale(
        order=order,
        lines=list(order.lines),
        tickets=[],
        holders=[],
        payment=sale_payment,
        payment_event=event,
        consents=[],
        first_purchase_customer_id=None,
        now=utcnow(),
    )
    await write_with_orm(session, sale, [], announce)
