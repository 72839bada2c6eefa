"""Settling payment attempts: the services that move a payment (``payments.states``)
together with its order (``orders.states``) in one transaction, and commit.

``confirm_payment`` is where money arrives, from every path (notification, return page,
reconciliation, the demo controls): it pays the order and issues its tickets, or, when
the money cannot pay the order, leaves the payment ``refund_due`` for reconciliation to
give back; a paid order's webhook events (order.paid, pass.issued) are written in the
same transaction. ``payment_outcome`` tells the order page what a late payment meant.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Order, Payment, utcnow
from core_service.orders.issuing import announce_paid, convert_holds, mark_paid, revive_expired
from core_service.payments import states
from core_service.platform.errors import NotFound
from core_service.platform.tenancy import Tenant
from core_service.webhooks import outbox
from kippu_contract.states import OrderStatus, PaymentState


async def create_payment(
    session: AsyncSession, tenant: Tenant, order: Order, provider: str, method: str
) -> Payment:
    """A new payment attempt for a pending order."""
    payment = await states.open_payment(session, tenant.id, order, provider, method)
    await session.commit()
    return payment


#: Work done when an order becomes paid, inside the transaction that pays it (the
#: confirmation mail is written there, so that a paid order never lacks its mail).
OnPaid = Callable[[Order], Awaitable[None]]


async def confirm_payment(
    session: AsyncSession,
    tenant: Tenant,
    payment_id: int,
    provider_ref: str,
    *,
    on_paid: OnPaid | None = None,
) -> tuple[Order, bool]:
    """The provider says the money of this payment arrived. Returns (order, newly_paid).

    pending, order payable → paid, the order paid (re-acquiring its places if the hold
    had expired and they are still free), tickets issued. pending, order not payable
    (sold out after expiry, paid by another attempt, cancelled) or failed (given up) →
    refund_due, nothing issued. Any other state: decided already, nothing changes, so
    repeating it for the same payment is a no-op.

    ``on_paid(order)`` runs when the order has just become paid, with its tickets issued,
    before the COMMIT: what it writes commits or rolls back with the payment.
    """
    now = utcnow()
    payment = await session.scalar(
        sa.select(Payment).where(Payment.id == payment_id, Payment.facility_id == tenant.id)
    )
    if payment is None:
        raise NotFound("No such payment.", "お支払いが見つかりません。")
    order = await session.get(Order, payment.order_id)
    assert order is not None
    state = await states.take_undecided(session, tenant.id, payment.id)
    if state is None:
        # Already decided (a duplicated or late notification): nothing changes.
        await session.commit()
        await session.refresh(order, ["status", "lines", "tickets"])
        return order, False
    if state == PaymentState.FAILED:
        # Money arrived for an attempt we had given up on: owed back; the order is
        # never paid twice, and stays as it is.
        await states.owe_back(
            session,
            tenant.id,
            payment.id,
            provider_ref,
            source=PaymentState.FAILED,
            cause=states.RefundDueCause.PAID_AFTER_FAILURE,
        )
        await session.commit()
        await session.refresh(order, ["status", "lines", "tickets"])
        return order, False
    paid_lines = await mark_paid(session, tenant, order, now)
    order_from = OrderStatus.PENDING
    newly_paid = paid_lines is not None
    if not newly_paid:
        await session.refresh(order, ["status"])
        if order.status == OrderStatus.EXPIRED:
            # Paid after the hold expired: the places may still be free.
            newly_paid = await revive_expired(session, tenant, order, now)
            order_from = OrderStatus.EXPIRED
    if newly_paid:
        await states.pay(session, tenant.id, payment.id, provider_ref, order_from=order_from)
        await outbox.record_paid_order(session, tenant, order)  # commits with the payment
        if on_paid is not None:
            await session.flush()
            await session.refresh(order, ["status", "lines", "tickets"])
            await on_paid(order)
    else:
        await session.refresh(order, ["status"])
        await states.owe_back(
            session,
            tenant.id,
            payment.id,
            provider_ref,
            source=PaymentState.PENDING,
            cause=states.cause_for(order.status),
        )
    if paid_lines:
        await convert_holds(session, paid_lines)  # last before the COMMIT (see there)
    await session.commit()
    if not (newly_paid and on_paid is not None):  # on_paid loaded them already
        await session.refresh(order, ["lines", "tickets"])
    if newly_paid:
        await announce_paid(tenant, order)
    return order, newly_paid


async def payment_outcome(session: AsyncSession, tenant: Tenant, order: Order) -> str:
    """What the visitor's order page should say about a late payment:
    "reacquired" (paid after the hold expired, places still free), "refund" (money
    received that paid nothing, while the order is not paid: owed back or given back),
    or "" (nothing special)."""
    if order.status != OrderStatus.PAID:
        owed = await session.scalar(
            sa.select(sa.func.count())
            .select_from(Payment)
            .where(
                Payment.facility_id == tenant.id,
                Payment.order_id == order.id,
                Payment.state.in_((*states.OWED_BACK, PaymentState.REFUNDED)),
            )
        )
        return "refund" if owed else ""
    return "reacquired" if await states.reacquired(session, tenant.id, order.id) else ""


async def fail_payment(session: AsyncSession, tenant: Tenant, payment_id: int, reason: str) -> None:
    """pending → failed (declined, cancelled, expired, given up); a no-op otherwise."""
    await states.fail(session, tenant.id, payment_id, reason)
    await session.commit()
