"""Refunds of cancellations: recorded in the cancellation's transaction, sent afterwards.

``record_refund`` writes the :class:`Refund` row inside the cancellation's transaction,
with an idempotency key derived from the cancellation, so the key never changes between
attempts. ``send_refund`` claims the row with a conditional UPDATE (so two concurrent
retries call the provider once), calls the provider outside any transaction, and records
the outcome; a failure leaves it "failed" for a retry with the same key. Kiosk terminal
payments are owed in person instead (``mark_paid_out``). Every step is in the audit log.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import AuditLog, Cancellation, Order, Payment, Refund, utcnow
from core_service.payments.registry import build_provider
from core_service.platform.errors import Conflict, KippuError, NotFound
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant

log = logging.getLogger(__name__)

#: Payments taken by a kiosk's terminal are refunded in person, not through a provider.
IN_PERSON_PROVIDERS = ("kiosk_terminal",)
#: A refund stuck in "sending" this long (a crash mid-call) may be sent again; the
#: provider sees the same idempotency key and does not refund twice.
STALE_SENDING = dt.timedelta(minutes=2)


async def record_refund(
    session: AsyncSession, tenant: Tenant, order: Order, cancellation: Cancellation
) -> Refund | None:
    if cancellation.refund_amount <= 0:
        return None
    payment = await session.scalar(
        sa.select(Payment)
        .where(Payment.order_id == order.id, Payment.state == "paid")
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
        state="owed" if in_person else "pending",
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
    now = utcnow()
    claimed = await session.execute(
        sa.update(Refund)
        .where(
            Refund.id == refund_id,
            Refund.facility_id == tenant.id,
            sa.or_(
                Refund.state.in_(("pending", "failed")),
                sa.and_(Refund.state == "sending", Refund.updated_at < now - STALE_SENDING),
            ),
        )
        .values(state="sending", attempts=Refund.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    refund = await _load_refund(session, tenant, refund_id)
    if claimed.rowcount != 1:
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
        values = {"state": "failed", "last_error": f"{type(exc).__name__}: {exc}"}
        action, data = "refund.failed", {"error": values["last_error"]}
    else:
        refunded = result.state == "refunded"
        values = {
            "state": "refunded" if refunded else "processing",
            "provider_ref": result.refund_ref,
            "refunded_at": utcnow() if refunded else None,
            "last_error": "",
        }
        action, data = "refund.sent", {"provider_ref": result.refund_ref, "state": result.state}
    await session.execute(
        sa.update(Refund).where(Refund.id == refund.id, Refund.state == "sending").values(**values)
    )
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
    moved = await session.execute(
        sa.update(Refund)
        .where(Refund.id == refund_id, Refund.facility_id == tenant.id, Refund.state == "owed")
        .values(state="paid_out", refunded_at=utcnow())
    )
    refund = await _load_refund(session, tenant, refund_id)
    if moved.rowcount == 1:
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
    elif refund.state != "paid_out":
        raise Conflict(
            "This refund is not owed in person.", "この返金は窓口での返金対象ではありません。"
        )
    await session.commit()
    return await _load_refund(session, tenant, refund_id)


async def _load_refund(session: AsyncSession, tenant: Tenant, refund_id: int) -> Refund:
    refund = await session.scalar(
        sa.select(Refund)
        .where(Refund.id == refund_id, Refund.facility_id == tenant.id)
        .execution_options(populate_existing=True)
    )
    if refund is None:
        raise NotFound("No such refund.", "返金が見つかりません。")
    return refund
