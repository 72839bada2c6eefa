"""Refunds of cancellations: recorded in the cancellation's transaction, sent afterwards.

``record_refund`` writes the :class:`Refund` row inside the cancellation's transaction,
with an idempotency key derived from the cancellation, so the key never changes between
attempts. ``send_refund`` claims the row with a conditional UPDATE (so two concurrent
retries call the provider once), calls the provider outside any transaction, and records
the outcome; a failure leaves it "failed" for a retry with the same key. Kiosk terminal
payments are owed in person instead (``mark_paid_out``). Every step is in the audit log;
money going back (the provider took the refund, or staff paid it out) is also the
``order.refunded`` webhook, written with the move.
The moves of ``Refund.state`` are in :mod:`.states`.

Money that paid no order at all (a ``refund_due`` payment) is given back by
``payments.refund_due``, not here: there is no cancellation behind it.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.aftersales import states
from core_service.models import AuditLog, Cancellation, Order, Payment, Refund, utcnow
from core_service.payments.registry import build_provider
from core_service.platform.errors import Conflict, KippuError, NotFound
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from core_service.webhooks import outbox, payloads
from kippu_contract.states import PaymentState, RefundState
from kippu_contract.webhooks import ORDER_REFUNDED

log = logging.getLogger(__name__)

#: Payments taken by a kiosk's terminal are refunded in person, not through a provider.
IN_PERSON_PROVIDERS = ("kiosk_terminal",)


async def record_refund(
    session: AsyncSession, tenant: Tenant, order: Order, cancellation: Cancellation
) -> Refund | None:
    if cancellation.refund_amount <= 0:
        return None
    payment = await session.scalar(
        sa.select(Payment)
        .where(Payment.order_id == order.id, Payment.state == PaymentState.PAID)
        .order_by(Payment.id)
        .limit(1)
    )
    in_person = payment is None or payment.provider in IN_PERSON_PROVIDERS
    refund = Refund(
        facility_id=tenant.id,
        order_id=order.id,
        cancellation_id=cancellation.id,
        payment_id=payment.id if payment else None,
        provider=payment.provider if payment else "",
        method=payment.method if payment else "",
        amount=cancellation.refund_amount,
        state=RefundState.OWED if in_person else RefundState.PENDING,
        # Derived from the cancellation, so every retry sends the provider the same key.
        idempotency_key=f"kippu-refund-{tenant.id}-{cancellation.id}",
    )
    session.add(refund)
    await session.flush()
    session.add(
        AuditLog(
            facility_id=tenant.id,
            at=utcnow(),
            actor=cancellation.actor,
            action="refund.owed" if in_person else "refund.created",
            subject=f"order:{order.code}",
            data={"refund": refund.id, "amount": refund.amount, "provider": refund.provider},
        )
    )
    return refund


async def send_refund(
    session: AsyncSession,
    tenant: Tenant,
    refund_id: int,
    *,
    settings: Settings,
    actor: str = "system",
) -> Refund:
    """Ask the provider to refund; safe to call again (same idempotency key)."""
    claimed = await states.start_sending(session, tenant.id, refund_id, utcnow())
    await session.commit()
    refund = await _load_refund(session, tenant, refund_id)
    if not claimed:
        return refund  # done already, or another request is sending it right now
    payment = await session.get(Payment, refund.payment_id) if refund.payment_id else None
    order = await session.get(Order, refund.order_id)
    assert order is not None
    try:
        provider = build_provider(tenant, refund.provider, settings)
        result = await provider.refund(
            payment.provider_ref if payment else "",
            refund.amount,
            idempotency_key=refund.idempotency_key,
            reason=f"cancellation of order {order.code}",
        )
    except KippuError as exc:
        log.warning("refund %s failed: %s", refund.id, exc)
        error = f"{type(exc).__name__}: {exc}"
        await states.send_failed(session, tenant.id, refund.id, error)
        action, data = "refund.failed", {"error": error}
    else:
        # The provider's RefundResult.state: "refunded" at once, else "pending".
        settled = result.state == "refunded"
        if await states.sent(
            session,
            tenant.id,
            refund.id,
            settled=settled,
            provider_ref=result.refund_ref,
            now=utcnow(),
        ):
            state = RefundState.REFUNDED if settled else RefundState.PROCESSING
            await _announce(session, tenant, order.code, refund, state)
        action, data = "refund.sent", {"provider_ref": result.refund_ref, "state": result.state}
    session.add(
        AuditLog(
            facility_id=tenant.id,
            at=utcnow(),
            actor=actor,
            action=action,
            subject=f"order:{order.code}",
            data={"refund": refund.id, "amount": refund.amount, **data},
        )
    )
    await session.commit()
    return await _load_refund(session, tenant, refund_id)


async def mark_paid_out(
    session: AsyncSession, tenant: Tenant, refund_id: int, actor: str
) -> Refund:
    """Staff handed an owed (kiosk) refund back in person."""
    moved = await states.pay_out(session, tenant.id, refund_id, utcnow())
    refund = await _load_refund(session, tenant, refund_id)
    if moved:
        order = await session.get(Order, refund.order_id)
        assert order is not None
        await _announce(session, tenant, order.code, refund, RefundState.PAID_OUT)
        session.add(
            AuditLog(
                facility_id=tenant.id,
                at=utcnow(),
                actor=actor,
                action="refund.paid_out",
                subject=f"refund:{refund.id}",
                data={"amount": refund.amount},
            )
        )
    elif refund.state != RefundState.PAID_OUT:
        raise Conflict(
            "This refund is not owed in person.", "この返金は窓口での返金対象ではありません。"
        )
    await session.commit()
    return await _load_refund(session, tenant, refund_id)


async def _announce(
    session: AsyncSession, tenant: Tenant, order_code: str, refund: Refund, state: RefundState
) -> None:
    """The ``order.refunded`` webhook of a refund the provider took or staff paid out."""
    data = payloads.order_refunded(
        order_code, amount=refund.amount, reason="cancellation", state=state, refund_id=refund.id
    )
    await outbox.record(session, tenant, ORDER_REFUNDED, data)


async def _load_refund(session: AsyncSession, tenant: Tenant, refund_id: int) -> Refund:
    refund = await session.scalar(
        sa.select(Refund)
        .where(Refund.id == refund_id, Refund.facility_id == tenant.id)
        .execution_options(populate_existing=True)
    )
    if refund is None:
        raise NotFound("No such refund.", "返金が見つかりません。")
    return refund
