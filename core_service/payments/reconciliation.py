"""Reconciliation: asking providers about payments that notifications left undecided.

Notifications get lost, arrive late or never come (a konbini slip that nobody pays).
:func:`reconcile` walks every payment still ``pending`` (older than a short grace, so
that fresh ones get their notification first) and asks its provider:

- paid or failed at the provider → applied through ``apply_event``, exactly as the
  notification would have been (a *missed notification*, counted in the report);
- a konbini slip past its deadline, still unpaid → cancelled at the provider where it can
  be, failed here, and the order's hold expired so that its seats are sold again;
- any other attempt whose order is no longer pending (hold expired, paid another way)
  → cancelled and failed the same way, so that a late payment cannot arrive unnoticed.

Then it gives back every payment whose money paid nothing (state ``refund_due``: paid
after the hold expired and the places were sold, paid when another attempt had paid the
order, or paid after the attempt was given up) through :func:`.refund_due.give_back`,
and reports each one: ``refunded``, or among the differences while it is still owed (the
provider refused or could not be reached; the next run tries again).

It also reports the other differences that need a person: amounts that do not match,
providers that could not be asked. The ``reconcile_payments`` job runs it every few
minutes; ``kippu payments reconcile`` runs it by hand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import Order, Payment, utcnow
from core_service.orders import states as order_states
from core_service.orders.expiry import expire_holds
from core_service.payments import states
from core_service.payments.notifications import (
    AMOUNT_MISMATCH,
    DUPLICATE,
    FAILED,
    PAID,
    REFUND_DUE,
    apply_event,
)
from core_service.payments.provider import NotificationRejected, PaymentProvider
from core_service.payments.refund_due import give_back
from core_service.payments.registry import build_provider
from core_service.payments.service import EXPIRES_AT
from core_service.payments.transitions import fail_payment
from core_service.platform.errors import KippuError
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant, load_tenant
from core_service.plugins.host import PluginHost
from kippu_contract.states import OrderStatus, PaymentState

log = logging.getLogger(__name__)

#: Pending payments younger than this are left to their notification.
MIN_AGE = dt.timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Finding:
    """One payment the job acted on or that needs attention."""

    facility: str
    payment_id: int
    order_code: str
    provider: str
    method: str
    what: str
    detail: str = ""


@dataclass(slots=True)
class ReconciliationReport:
    """What one run did and found."""

    checked: int = 0
    #: Paid at the provider, pending here: a missed notification, now confirmed.
    confirmed: list[Finding] = field(default_factory=list)
    #: Failed at the provider, pending here: now failed.
    failed: list[Finding] = field(default_factory=list)
    #: Konbini past the deadline or abandoned attempts: failed and seats released.
    expired: list[Finding] = field(default_factory=list)
    #: Money that paid nothing, given back at the provider by this run.
    refunded: list[Finding] = field(default_factory=list)
    #: Differences a person must look at (money still owed back, amount mismatches).
    differences: list[Finding] = field(default_factory=list)
    #: Payments that could not be checked now (provider unreachable, no provider).
    errors: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        return (
            f"checked {self.checked}: {len(self.confirmed)} confirmed, {len(self.failed)} "
            f"failed, {len(self.expired)} expired, {len(self.refunded)} refunded, "
            f"{len(self.differences)} differences, {len(self.errors)} errors"
        )


async def check_with_provider(
    session: AsyncSession,
    tenant: Tenant,
    payment: Payment,
    *,
    settings: Settings,
    signer: Signer,
    provider: PaymentProvider | None = None,
) -> str:
    """Ask the provider about a pending payment and apply the answer; the outcome.

    Used by the visitor's waiting page and by :func:`reconcile`. Raises ``KippuError``
    (``ProviderUnavailable``, ``OperationNotSupported``, ...) when the provider cannot say.
    """
    if not payment.provider_ref:
        return "no_reference"
    provider = provider or build_provider(tenant, payment.provider, settings)
    try:
        event = await provider.query_status(payment.provider_ref)
    except NotificationRejected as exc:  # some adapters reuse it for "not ours"
        raise KippuError(exc.reason) from exc
    return await apply_event(session, tenant, provider, event, settings=settings, signer=signer)


async def reconcile(
    sessionmaker: async_sessionmaker[AsyncSession],
    host: PluginHost,
    settings: Settings,
    signer: Signer,
    *,
    now: dt.datetime | None = None,
    min_age: dt.timedelta = MIN_AGE,
) -> ReconciliationReport:
    """One reconciliation run over every facility."""
    now = now or utcnow()
    report = ReconciliationReport()
    async with sessionmaker() as session:
        due = (
            await session.execute(
                sa.select(Payment.facility_id, Payment.id)
                .where(Payment.state == PaymentState.PENDING, Payment.created_at < now - min_age)
                .order_by(Payment.facility_id, Payment.id)
            )
        ).all()
    for facility_id, payment_id in due:
        # One session per payment: each is applied and committed on its own, and one
        # that fails does not hold up the others.
        async with sessionmaker() as session:
            tenant = await load_tenant(session, host, facility_id=facility_id)
            payment = await session.get(Payment, payment_id)
            if payment is None or payment.state != PaymentState.PENDING:
                continue  # decided meanwhile
            report.checked += 1
            try:
                await _reconcile_payment(session, tenant, payment, settings, signer, now, report)
            except Exception as exc:  # one broken payment must not stop the run
                log.exception("reconciling payment %s failed", payment_id)
                report.errors.append(
                    Finding(
                        tenant.facility.slug,
                        payment_id,
                        "",
                        payment.provider,
                        payment.method,
                        "error",
                        repr(exc),
                    )
                )
    await _give_back_owed(sessionmaker, host, settings, report)
    log.info("payment reconciliation: %s", report.summary())
    return report


async def _give_back_owed(
    sessionmaker: async_sessionmaker[AsyncSession],
    host: PluginHost,
    settings: Settings,
    report: ReconciliationReport,
) -> None:
    """Refund every payment whose money paid nothing, and report each one."""
    async with sessionmaker() as session:
        owed = (
            await session.execute(
                sa.select(Payment.facility_id, Payment.id)
                .where(Payment.state.in_(states.OWED_BACK))
                .order_by(Payment.facility_id, Payment.id)
            )
        ).all()
    for facility_id, payment_id in owed:
        async with sessionmaker() as session:
            tenant = await load_tenant(session, host, facility_id=facility_id)
            slug = tenant.facility.slug
            try:
                payment, error = await give_back(session, tenant, payment_id, settings=settings)
                order = await session.get(Order, payment.order_id)
                cause = await states.refund_due_cause(session, tenant.id, payment.id)
            except Exception as exc:  # one broken payment must not stop the run
                log.exception("giving back payment %s failed", payment_id)
                report.errors.append(Finding(slug, payment_id, "", "", "", "error", repr(exc)))
                continue
            if payment.state == PaymentState.REFUNDED:
                report.refunded.append(_finding(slug, payment, order, "refunded", cause))
            else:
                detail = f"{cause}: {error}" if error else cause
                if payment.state == PaymentState.REFUNDING:
                    detail = f"{cause}: a refund is under way"
                report.differences.append(_finding(slug, payment, order, "refund_due", detail))


def _finding(
    slug: str, payment: Payment, order: Order | None, what: str, detail: str = ""
) -> Finding:
    return Finding(
        facility=slug,
        payment_id=payment.id,
        order_code=order.code if order else "",
        provider=payment.provider,
        method=payment.method,
        what=what,
        detail=detail,
    )


async def _reconcile_payment(
    session: AsyncSession,
    tenant: Tenant,
    payment: Payment,
    settings: Settings,
    signer: Signer,
    now: dt.datetime,
    report: ReconciliationReport,
) -> None:
    order = await session.get(Order, payment.order_id)
    assert order is not None
    slug = tenant.facility.slug
    provider = None
    outcome = "unknown"
    try:
        provider = build_provider(tenant, payment.provider, settings)
        outcome = await check_with_provider(
            session, tenant, payment, settings=settings, signer=signer, provider=provider
        )
    except KippuError as exc:
        if not _past_deadline(payment, now) and order.status == OrderStatus.PENDING:
            report.errors.append(_finding(slug, payment, order, "not_checked", str(exc)))
            return
        # Unknown to the provider (or unreachable) and past its time: expired below.
        outcome = "unknown"
    if outcome in (PAID, DUPLICATE, REFUND_DUE):
        await session.refresh(payment)
        await session.refresh(order)
        if payment.state != PaymentState.PAID or order.status != OrderStatus.PAID:
            return  # refund_due: given back and reported with the others at the end
        report.confirmed.append(_finding(slug, payment, order, "missed_notification"))
        return
    if outcome == FAILED:
        report.failed.append(_finding(slug, payment, order, "failed_at_provider"))
        return
    if outcome == AMOUNT_MISMATCH:
        report.differences.append(_finding(slug, payment, order, "amount_mismatch"))
        return
    await session.refresh(payment)
    await session.refresh(order)
    if payment.state != PaymentState.PENDING:
        return
    if _past_deadline(payment, now):
        await _expire(session, tenant, payment, order, provider, now, "konbini deadline passed")
        report.expired.append(_finding(slug, payment, order, "deadline_passed"))
    elif order.status != OrderStatus.PENDING:
        await _expire(session, tenant, payment, order, provider, now, f"order {order.status}")
        report.expired.append(_finding(slug, payment, order, f"order_{order.status}"))


def _past_deadline(payment: Payment, now: dt.datetime) -> bool:
    expires = (payment.data or {}).get(EXPIRES_AT)
    # Only slips are expired by deadline here: a QR code's expiry just ends that code.
    return payment.method == "konbini" and isinstance(expires, int) and expires < now.timestamp()


async def _expire(
    session: AsyncSession,
    tenant: Tenant,
    payment: Payment,
    order: Order,
    provider: PaymentProvider | None,
    now: dt.datetime,
    reason: str,
) -> None:
    """Cancel at the provider (best effort), fail the payment, release the order's seats."""
    if provider is not None and payment.provider_ref:
        try:
            await provider.cancel(
                payment.provider_ref, idempotency_key=f"{payment.idempotency_key}-cancel"
            )
        except KippuError as exc:
            log.info("could not cancel payment %s at %s: %s", payment.id, payment.provider, exc)
    await fail_payment(session, tenant, payment.id, reason)
    if order.status == OrderStatus.PENDING and not await _other_pending(session, payment):
        # Bring the hold forward to now; expire_holds then releases it like any other.
        await order_states.hold_until(session, tenant.id, order.id, now - dt.timedelta(seconds=1))
        await session.commit()
        await expire_holds(session, now)


async def _other_pending(session: AsyncSession, payment: Payment) -> bool:
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Payment)
        .where(
            Payment.order_id == payment.order_id,
            Payment.id != payment.id,
            Payment.state == PaymentState.PENDING,
        )
    )
    return bool(count)
