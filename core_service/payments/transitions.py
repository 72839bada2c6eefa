"""A payment attempt's state changes: created, confirmed (which pays its order),
failed, and what a late payment meant for the visitor.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import (
    Order,
    Payment,
    PaymentEvent,
    utcnow,
)
from core_service.orders.issuing import announce_paid, convert_holds, mark_paid, revive_expired
from core_service.platform.errors import Conflict, NotFound
from core_service.platform.security import new_token
from core_service.platform.tenancy import Tenant


async def create_payment(
    session: AsyncSession, tenant: Tenant, order: Order, provider: str, method: str
) -> Payment:
    """A new payment attempt for a pending order."""
    if order.status != "pending":
        raise Conflict("This order cannot be paid any more.", "このご注文はお支払いできません。")
    payment = Payment(
        facility_id=tenant.id,
        order_id=order.id,
        provider=provider,
        method=method,
        state="pending",
        amount=order.total,
        idempotency_key=new_token(16),
    )
    session.add(payment)
    await session.flush()
    session.add(
        PaymentEvent(
            facility_id=tenant.id,
            payment_id=payment.id,
            at=utcnow(),
            from_state="created",
            to_state="pending",
            detail={},
        )
    )
    await session.commit()
    return payment


async def confirm_payment(
    session: AsyncSession, tenant: Tenant, payment_id: int, provider_ref: str
) -> tuple[Order, bool]:
    """Mark a payment and its order paid. Returns (order, newly_paid); repeating it for
    the same payment changes nothing."""
    now = utcnow()
    payment = await session.scalar(
        sa.select(Payment).where(Payment.id == payment_id, Payment.facility_id == tenant.id)
    )
    if payment is None:
        raise NotFound("No such payment.", "お支払いが見つかりません。")
    order = await session.get(Order, payment.order_id)
    assert order is not None
    moved = await session.execute(
        sa.update(Payment)
        .where(Payment.id == payment.id, Payment.state == "pending")
        .values(state="paid", provider_ref=provider_ref)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        # Already decided (a duplicated or late notification): nothing changes.
        await session.commit()
        await session.refresh(order, ["status", "lines", "tickets"])
        return order, False
    session.add(
        PaymentEvent(
            facility_id=tenant.id,
            payment_id=payment.id,
            at=now,
            from_state="pending",
            to_state="paid",
            detail={"provider_ref": provider_ref},
        )
    )
    paid_lines = await mark_paid(session, tenant, order, now)
    newly_paid = paid_lines is not None
    if not newly_paid:
        await session.refresh(order, ["status"])
    if not newly_paid and order.status == "expired":
        # Paid after the hold expired: the places may still be free.
        newly_paid = await revive_expired(session, tenant, order, now)
        if newly_paid:
            await session.execute(
                sa.update(Payment).where(Payment.id == payment.id).values(data={"reacquired": True})
            )
    if not newly_paid:
        # Paid after the hold expired and the places are gone (or paid twice by two
        # attempts): keep the record so that reconciliation refunds it; issue nothing.
        await session.execute(
            sa.update(Payment)
            .where(Payment.id == payment.id)
            .values(data={"needs_refund": True, "reason": f"order {order.status}"})
        )
    if paid_lines:
        await convert_holds(session, paid_lines)  # last before the COMMIT (see there)
    await session.commit()
    await session.refresh(order, ["lines", "tickets"])
    if newly_paid:
        await announce_paid(tenant, order)
    return order, newly_paid


async def payment_outcome(session: AsyncSession, tenant: Tenant, order: Order) -> str:
    """What the visitor's order page should say about a late payment:
    "reacquired" (paid after the hold expired, places still free), "refund" (paid after
    the hold expired and sold out: refunded), or "" (nothing special)."""
    rows = await session.scalars(
        sa.select(Payment.data).where(
            Payment.order_id == order.id, Payment.facility_id == tenant.id, Payment.state == "paid"
        )
    )
    outcome = ""
    for data in rows:
        if (data or {}).get("needs_refund") and order.status != "paid":
            return "refund"
        if (data or {}).get("reacquired"):
            outcome = "reacquired"
    return outcome


async def fail_payment(session: AsyncSession, tenant: Tenant, payment_id: int, reason: str) -> None:
    moved = await session.execute(
        sa.update(Payment)
        .where(
            Payment.id == payment_id, Payment.facility_id == tenant.id, Payment.state == "pending"
        )
        .values(state="failed")
    )
    if moved.rowcount == 1:
        session.add(
            PaymentEvent(
                facility_id=tenant.id,
                payment_id=payment_id,
                at=utcnow(),
                from_state="pending",
                to_state="failed",
                detail={"reason": reason},
            )
        )
    await session.commit()
