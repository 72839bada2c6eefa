"""Giving back money that paid nothing: the refund of a ``refund_due`` payment.

A payment is ``refund_due`` when its money arrived for an order it could not pay (see
``payments.states.RefundDueCause``). :func:`give_back` refunds its whole amount at the
provider exactly once: it claims the payment (refund_due → refunding, a conditional
UPDATE, so two concurrent runs call the provider once), calls the provider outside any
transaction with a key derived from the payment (so a retry after a timeout or a crash
cannot refund twice), and records the outcome: refunded (with the ``order.refunded``
webhook), or back to refund_due with the error for the next try. Reconciliation calls it
for every such payment on each run.

Refunds of cancelled tickets are another flow (``aftersales.refunds``): their payment
paid its order and stays ``paid``.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import AuditLog, Order, Payment, utcnow
from core_service.payments import states
from core_service.payments.registry import build_provider
from core_service.platform.errors import KippuError
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from core_service.webhooks import outbox, payloads
from kippu_contract.webhooks import ORDER_REFUNDED

log = logging.getLogger(__name__)


def refund_key(facility_id: int, payment_id: int) -> str:
    """The idempotency key of a payment's give-back: the same on every attempt."""
    return f"kippu-payment-refund-{facility_id}-{payment_id}"


async def give_back(
    session: AsyncSession, tenant: Tenant, payment_id: int, *, settings: Settings
) -> tuple[Payment, str]:
    """Refund a ``refund_due`` payment in full; (the payment as it is now, the error if
    the provider refused or could not be reached, else ""). A payment in any other state
    (refunded already, or claimed by another run just now) is left alone."""
    claimed = await states.claim_refund(session, tenant.id, payment_id, utcnow())
    await session.commit()
    payment = await _load(session, tenant, payment_id)
    if not claimed:
        return payment, ""
    order = await session.get(Order, payment.order_id)
    code = order.code if order is not None else ""
    error = ""
    try:
        provider = build_provider(tenant, payment.provider, settings)
        result = await provider.refund(
            payment.provider_ref,
            payment.amount,
            idempotency_key=refund_key(tenant.id, payment.id),
            reason=f"payment for order {code} that paid nothing",
        )
    except KippuError as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.warning("giving back payment %s failed: %s", payment.id, error)
        await states.refund_failed(session, tenant.id, payment.id, error)
        action, data = "payment.refund_failed", {"error": error}
    else:
        if await states.refunded(session, tenant.id, payment.id, result.refund_ref, result.state):
            await _announce(session, tenant, code, payment)
        action, data = "payment.refunded", {"refund_ref": result.refund_ref}
    session.add(
        AuditLog(
            facility_id=tenant.id,
            at=utcnow(),
            actor="system",
            action=action,
            subject=f"order:{code}",
            data={"payment": payment.id, "amount": payment.amount, **data},
        )
    )
    await session.commit()
    return await _load(session, tenant, payment_id), error


async def _announce(session: AsyncSession, tenant: Tenant, code: str, payment: Payment) -> None:
    """The ``order.refunded`` webhook of the payment's money, gone back in full."""
    data = payloads.order_refunded(
        code, amount=payment.amount, reason="refund_due", state="refunded", payment_id=payment.id
    )
    await outbox.record(session, tenant, ORDER_REFUNDED, data)


async def _load(session: AsyncSession, tenant: Tenant, payment_id: int) -> Payment:
    payment = await session.scalar(
        sa.select(Payment)
        .where(Payment.id == payment_id, Payment.facility_id == tenant.id)
        .execution_options(populate_existing=True)
    )
    assert payment is not None
    return payment
