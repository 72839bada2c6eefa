"""Staff cancellations and refunds (F6, F7) as the staff API answers them.

Box-office work: quote and cancel an order (or some of its tickets) under the facility's
policy, retry a failed refund, record an in-person payout. Each function takes the order
code or refund id of the request, acts for the calling staff member (``staff:<id>`` in
the records) and returns the contract struct. The rules themselves are
:mod:`.cancellation` and :mod:`.refunds`; who may waive the fee is a guard of the route.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.aftersales.cancellation import CancelOutcome, Quote, cancel_tickets, quote
from core_service.aftersales.refunds import mark_paid_out, send_refund
from core_service.aftersales.schemas import (
    CancelIn,
    CancellationOut,
    QuoteOut,
    RefundOut,
    TicketQuoteOut,
)
from core_service.models import Cancellation, Order, Refund
from core_service.orders.queries import load_order
from core_service.platform.errors import InvalidInput
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from kippu_contract.states import RefundState


def _actor(staff_id: int) -> str:
    return f"staff:{staff_id}"


def parse_ticket_ids(text: str | None) -> list[int] | None:
    """``"3,5"`` as ``[3, 5]``; nothing (the whole order) as None."""
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise InvalidInput("ticket_ids must be comma-separated numbers.") from exc


async def staff_quote(
    session: AsyncSession,
    tenant: Tenant,
    code: str,
    ticket_ids: list[int] | None,
    *,
    waive_fee: bool,
) -> QuoteOut:
    """What cancelling these tickets (None: the whole order) would refund now."""
    order = await load_order(session, tenant, code)
    return quote_out(order.code, quote(tenant, order, ticket_ids, waive_fee=waive_fee))


async def staff_cancel(
    session: AsyncSession,
    tenant: Tenant,
    code: str,
    request: CancelIn,
    *,
    staff_id: int,
    idempotency_key: str,
    settings: Settings,
) -> CancellationOut:
    """Cancel under the policy (once per idempotency key) and start the refund."""
    order = await load_order(session, tenant, code)
    outcome = await cancel_tickets(
        session,
        tenant,
        order,
        ticket_ids=request.ticket_ids,
        actor=_actor(staff_id),
        idempotency_key=f"staff:{idempotency_key}",
        settings=settings,
        reason=request.reason,
        waive_fee=request.waive_fee,
        expected_refund=request.refund_amount,
    )
    await session.refresh(order, ["status"])
    return cancellation_out(order.code, order.status, outcome)


async def staff_retry_refund(
    session: AsyncSession, tenant: Tenant, refund_id: int, *, staff_id: int, settings: Settings
) -> RefundOut:
    refund = await send_refund(
        session, tenant, refund_id, settings=settings, actor=_actor(staff_id)
    )
    return refund_out(refund)


async def staff_paid_out(
    session: AsyncSession, tenant: Tenant, refund_id: int, *, staff_id: int
) -> RefundOut:
    """Record that staff paid the refund out in person (a kiosk terminal's sale)."""
    return refund_out(await mark_paid_out(session, tenant, refund_id, _actor(staff_id)))


def quote_out(order_code: str, q: Quote) -> QuoteOut:
    return QuoteOut(
        order_code=order_code,
        tickets=[
            TicketQuoteOut(t.ticket_id, t.base, t.handling_fee, t.fee, t.refund, t.days_before)
            for t in q.tickets
        ],
        base_total=q.base_total,
        fee=q.fee,
        handling_fee_kept=q.handling_fee_kept,
        refund_amount=q.refund_amount,
    )


async def staff_list_refunds(
    session: AsyncSession, tenant: Tenant, *, state: str | None, limit: int
) -> list[RefundOut]:
    """The facility's refunds, newest first; ``state`` narrows it (``failed``: the ones
    the retry job gave up on or is still trying)."""
    if state is not None and state not in set(RefundState):
        raise InvalidInput(
            f"Unknown refund state {state!r}; one of {', '.join(RefundState)}.",
            "返金の状態の指定が正しくありません。",
        )
    query = (
        sa.select(Refund, Order.code)
        .join(Order, Order.id == Refund.order_id)
        .where(Refund.facility_id == tenant.id)
        .order_by(Refund.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(Refund.state == state)
    return [refund_out(refund, order_code=code) for refund, code in await session.execute(query)]


def refund_out(refund: Refund, *, order_code: str = "") -> RefundOut:
    return RefundOut(
        id=refund.id,
        state=refund.state,
        amount=refund.amount,
        provider=refund.provider,
        provider_ref=refund.provider_ref,
        attempts=refund.attempts,
        last_error=refund.last_error,
        refunded_at=refund.refunded_at,
        order_code=order_code,
        updated_at=refund.updated_at,
    )


def cancellation_out(order_code: str, order_status: str, outcome: CancelOutcome) -> CancellationOut:
    c: Cancellation = outcome.cancellation
    return CancellationOut(
        id=c.id,
        order_code=order_code,
        order_status=order_status,
        ticket_ids=[int(i) for i in c.ticket_ids],
        base_total=c.base_total,
        fee=c.fee,
        handling_fee_kept=c.handling_fee_kept,
        refund_amount=c.refund_amount,
        replayed=not outcome.created,
        refund=refund_out(outcome.refund) if outcome.refund is not None else None,
    )
