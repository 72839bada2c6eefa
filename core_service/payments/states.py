"""The payment state machine: every move of ``Payment.state``, each recorded as a
:class:`PaymentEvent`.

Each transition is one conditional UPDATE from the state it allows, scoped by facility;
it says whether it moved the payment and, when it did, adds the event in the same
transaction. A duplicated or late notification, a retried call or a second reconciliation
run finds the payment moved already, gets False and records nothing: no second ticket,
no second charge, no second refund. None of them commits; the services around them
(``transitions``, ``service``, ``notifications``, ``reconciliation``, ``refund_due``)
decide the transaction. The states and moves are tabled in ``docs/states.md``.

Money that arrives for an order it cannot pay is not a flag but a state of its own,
``refund_due``, with the cause in its event; reconciliation gives it back
(``refunding`` → ``refunded``).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Order, Payment, PaymentEvent, utcnow
from core_service.platform.database import updated_one
from core_service.platform.errors import Conflict
from core_service.platform.security import new_token
from kippu_contract.states import OrderStatus, PaymentState

#: A refund call claimed this long ago without an outcome (a crash mid-call) may be
#: claimed again; the provider sees the same idempotency key and refunds once.
STALE_REFUNDING = dt.timedelta(minutes=2)
#: Payments whose money is owed back and not yet on its way.
OWED_BACK = (PaymentState.REFUND_DUE, PaymentState.REFUNDING)


class RefundDueCause(StrEnum):
    """Why a payment's money paid nothing (``PaymentEvent.detail["cause"]``)."""

    #: Paid after the hold expired, and the places were sold meanwhile.
    SOLD_OUT = "sold_out"
    #: The order was paid already, by another attempt.
    ORDER_PAID = "order_paid"
    #: The order was paid by another attempt and cancelled since.
    ORDER_CANCELLED = "order_cancelled"
    #: The attempt had been given up (failed) when its money arrived.
    PAID_AFTER_FAILURE = "paid_after_failure"


def cause_for(order_status: OrderStatus) -> RefundDueCause:
    """The cause when a pending payment's order could not be paid by it."""
    if order_status == OrderStatus.PAID:
        return RefundDueCause.ORDER_PAID
    if order_status == OrderStatus.CANCELLED:
        return RefundDueCause.ORDER_CANCELLED
    return RefundDueCause.SOLD_OUT


def _event(
    facility_id: int,
    payment_id: int,
    source: PaymentState,
    target: PaymentState,
    detail: dict[str, Any],
) -> PaymentEvent:
    return PaymentEvent(
        facility_id=facility_id,
        payment_id=payment_id,
        at=utcnow(),
        from_state=source,
        to_state=target,
        detail=detail,
    )


async def _move(
    session: AsyncSession,
    facility_id: int,
    payment_id: int,
    source: PaymentState,
    target: PaymentState,
    detail: dict[str, Any],
    *,
    values: dict[str, Any] | None = None,
    also: sa.ColumnElement[bool] | None = None,
) -> bool:
    """``source`` → ``target`` (when ``also`` holds too), setting ``values``, recorded
    with ``detail``."""
    condition = [
        Payment.id == payment_id,
        Payment.facility_id == facility_id,
        Payment.state == source,
    ]
    if also is not None:
        condition.append(also)
    statement = sa.update(Payment).where(*condition).values(state=target, **(values or {}))
    if not await updated_one(session, statement):
        return False
    session.add(_event(facility_id, payment_id, source, target, detail))
    return True


async def open_payment(
    session: AsyncSession, facility_id: int, order: Order, provider: str, method: str
) -> Payment:
    """created → pending: a new attempt to pay a pending order (flushed, with its id)."""
    if order.status != OrderStatus.PENDING:
        raise Conflict("This order cannot be paid any more.", "このご注文はお支払いできません。")
    payment = Payment(
        facility_id=facility_id,
        order_id=order.id,
        provider=provider,
        method=method,
        state=PaymentState.PENDING,
        amount=order.total,
        idempotency_key=new_token(16),
    )
    session.add(payment)
    await session.flush()
    session.add(_event(facility_id, payment.id, PaymentState.CREATED, PaymentState.PENDING, {}))
    return payment


async def take_undecided(
    session: AsyncSession, facility_id: int, payment_id: int
) -> PaymentState | None:
    """Take a payment whose money has just arrived for this caller: its state if it is
    pending or failed (the row stays locked until the caller's transaction ends), None
    if it was decided already (a duplicate). No state changes here; the caller then moves
    it with :func:`pay` or :func:`owe_back` once it knows what the money paid.

    Taking it first matters: two concurrent confirmations of one payment would otherwise
    both try to pay its order, and the loser would take the order's being paid for a
    second payment.
    """
    taken = await updated_one(
        session,
        sa.update(Payment)
        .where(
            Payment.id == payment_id,
            Payment.facility_id == facility_id,
            Payment.state.in_((PaymentState.PENDING, PaymentState.FAILED)),
        )
        .values(state=Payment.state),
    )
    if not taken:
        return None
    state = await session.scalar(sa.select(Payment.state).where(Payment.id == payment_id))
    return state


async def pay(
    session: AsyncSession,
    facility_id: int,
    payment_id: int,
    provider_ref: str,
    *,
    order_from: OrderStatus,
) -> bool:
    """pending → paid: the money arrived and paid the order, which was ``order_from``
    (``expired`` when the places were taken again after the hold ran out: "reacquired",
    as the order page tells the visitor)."""
    return await _move(
        session,
        facility_id,
        payment_id,
        PaymentState.PENDING,
        PaymentState.PAID,
        {"provider_ref": provider_ref, "order_from": order_from.value},
        values={"provider_ref": provider_ref},
    )


async def owe_back(
    session: AsyncSession,
    facility_id: int,
    payment_id: int,
    provider_ref: str,
    *,
    source: PaymentState,
    cause: RefundDueCause,
) -> bool:
    """pending → refund_due or failed → refund_due: the money arrived but paid nothing."""
    if source not in (PaymentState.PENDING, PaymentState.FAILED):
        raise ValueError(f"a payment is not owed back from {source}")
    values = {"provider_ref": provider_ref} if provider_ref else {}
    return await _move(
        session,
        facility_id,
        payment_id,
        source,
        PaymentState.REFUND_DUE,
        {"provider_ref": provider_ref, "cause": cause.value},
        values=values,
    )


async def fail(session: AsyncSession, facility_id: int, payment_id: int, reason: str) -> bool:
    """pending → failed: declined, cancelled, expired or given up."""
    return await _move(
        session,
        facility_id,
        payment_id,
        PaymentState.PENDING,
        PaymentState.FAILED,
        {"reason": reason},
    )


async def claim_refund(
    session: AsyncSession, facility_id: int, payment_id: int, now: dt.datetime
) -> bool:
    """refund_due → refunding: this caller sends the refund. A refund claimed more than
    :data:`STALE_REFUNDING` ago with no outcome is claimed again (refunding → refunding)."""
    if await _move(
        session,
        facility_id,
        payment_id,
        PaymentState.REFUND_DUE,
        PaymentState.REFUNDING,
        {},
    ):
        return True
    return await _move(
        session,
        facility_id,
        payment_id,
        PaymentState.REFUNDING,
        PaymentState.REFUNDING,
        {"note": "claimed again after no outcome"},
        also=Payment.updated_at < now - STALE_REFUNDING,
    )


async def refunded(
    session: AsyncSession, facility_id: int, payment_id: int, refund_ref: str, provider_state: str
) -> bool:
    """refunding → refunded: the provider took the refund of the whole amount
    (``provider_state`` "refunded", or "pending" when it settles later)."""
    return await _move(
        session,
        facility_id,
        payment_id,
        PaymentState.REFUNDING,
        PaymentState.REFUNDED,
        {"refund_ref": refund_ref, "provider_state": provider_state},
    )


async def refund_failed(
    session: AsyncSession, facility_id: int, payment_id: int, error: str
) -> bool:
    """refunding → refund_due: the provider refused or could not be reached; the next
    reconciliation run tries again with the same idempotency key."""
    return await _move(
        session,
        facility_id,
        payment_id,
        PaymentState.REFUNDING,
        PaymentState.REFUND_DUE,
        {"error": error},
    )


def note(
    session: AsyncSession,
    facility_id: int,
    payment: Payment,
    what: str,
    detail: dict[str, Any],
) -> None:
    """Record something about a payment that is not a state change (``from_state`` =
    ``to_state``): the start at the provider, an amount that did not match."""
    session.add(
        _event(facility_id, payment.id, payment.state, payment.state, {"note": what, **detail})
    )


async def reacquired(session: AsyncSession, facility_id: int, order_id: int) -> bool:
    """Whether the order was paid by a payment that arrived after its hold expired (the
    places taken again), as recorded by :func:`pay`."""
    details = await session.scalars(
        sa.select(PaymentEvent.detail)
        .join(Payment, Payment.id == PaymentEvent.payment_id)
        .where(
            Payment.facility_id == facility_id,
            Payment.order_id == order_id,
            Payment.state == PaymentState.PAID,
            PaymentEvent.to_state == PaymentState.PAID,
        )
    )
    return any((detail or {}).get("order_from") == OrderStatus.EXPIRED for detail in details)


async def refund_due_cause(session: AsyncSession, facility_id: int, payment_id: int) -> str:
    """The cause recorded when the payment became ``refund_due`` ("" if it never did)."""
    detail = await session.scalar(
        sa.select(PaymentEvent.detail)
        .where(
            PaymentEvent.facility_id == facility_id,
            PaymentEvent.payment_id == payment_id,
            PaymentEvent.to_state == PaymentState.REFUND_DUE,
            PaymentEvent.from_state != PaymentState.REFUNDING,
        )
        .order_by(PaymentEvent.id.desc())
        .limit(1)
    )
    return str((detail or {}).get("cause", ""))
