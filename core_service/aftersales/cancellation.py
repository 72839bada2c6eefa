"""Cancelling paid orders, or single tickets of them, and refunding under the policy.

``cancel_tickets`` is one transaction: it cancels each ticket with a conditional UPDATE
(valid and unused, so a ticket scanned meanwhile is not cancelled), gives the places back
to capacity, records the :class:`Cancellation` and its :class:`Refund`, the
``order.cancelled`` webhook when the last ticket goes, and writes the audit log. The provider's refund call happens after that commit (never holding locks
across a network round trip), and sends the refund's idempotency key, so a retry after a
timeout cannot refund twice. A replayed cancellation (same idempotency key: a
double-click, a retried request) returns the first one and refunds nothing more.

Refund rows and the provider call live in :mod:`.refunds`; the ticket and order moves are
``orders.states.cancel_ticket`` and ``cancel_order``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.aftersales.cancellation_policy import CancellationPolicy, refund_for
from core_service.aftersales.refunds import record_refund, send_refund
from core_service.models import (
    AuditLog,
    Cancellation,
    Capacity,
    Order,
    OrderLine,
    Refund,
    Ticket,
    TicketTransfer,
    utcnow,
)
from core_service.orders import states as order_states
from core_service.platform.errors import Conflict, Forbidden, NotFound
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant, refresh_after_rollback
from core_service.vouchers.discounts import ticket_shares
from core_service.webhooks import outbox, payloads
from kippu_contract.facility_time import facility_today
from kippu_contract.states import OrderStatus, RefundState, TicketStatus, TransferState
from kippu_contract.webhooks import ORDER_CANCELLED


@dataclass(frozen=True, slots=True)
class TicketQuote:
    ticket_id: int
    base: int
    handling_fee: int
    fee: int
    refund: int
    tax_rate: int
    days_before: int


@dataclass(frozen=True, slots=True)
class Quote:
    tickets: tuple[TicketQuote, ...]

    @property
    def base_total(self) -> int:
        return sum(t.base for t in self.tickets)

    @property
    def fee(self) -> int:
        return sum(t.fee for t in self.tickets)

    @property
    def handling_fee_kept(self) -> int:
        return sum(t.handling_fee for t in self.tickets)

    @property
    def refund_amount(self) -> int:
        return sum(t.refund for t in self.tickets)


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    cancellation: Cancellation
    refund: Refund | None
    #: False when this was a replay of an earlier cancellation (same idempotency key).
    created: bool


def policy_of(tenant: Tenant) -> CancellationPolicy:
    return CancellationPolicy.from_settings(tenant.facility.settings or {})


def cancellable(ticket: Ticket) -> bool:
    """Valid and not used at all: a used ticket (or a started coupon book) stays sold."""
    return ticket.status == TicketStatus.VALID and ticket.uses_left == ticket.uses_total


async def claimed_ticket_ids(session: AsyncSession, order: Order) -> set[int]:
    rows = await session.scalars(
        sa.select(TicketTransfer.ticket_id).where(
            TicketTransfer.order_id == order.id, TicketTransfer.state == TransferState.CLAIMED
        )
    )
    return set(rows)


def _tear_off_lines(order: Order) -> set[int]:
    """Lines whose books were issued as tear-off coupons: more tickets than books bought."""
    per_line = Counter(t.order_line_id for t in order.tickets)
    return {line.id for line in order.lines if per_line[line.id] > line.quantity}


def _paid_prices(order: Order) -> dict[int, int]:
    """What was paid for each ticket's price: the unit price less its share of the
    line's voucher discount (the line's first tickets carry the remainder), so
    cancelling every ticket refunds exactly what the tickets cost."""
    paid = {}
    for line in order.lines:
        tickets = sorted((t for t in order.tickets if t.order_line_id == line.id), key=_id)
        shares = ticket_shares(line.discount, len(tickets)) if tickets else []
        for ticket, share in zip(tickets, shares, strict=True):
            paid[ticket.id] = line.unit_price - share
    return paid


def _id(ticket: Ticket) -> int:
    return ticket.id


def quote(
    tenant: Tenant, order: Order, ticket_ids: list[int] | None, *, waive_fee: bool = False
) -> Quote:
    """What cancelling these tickets (None: every cancellable one) would refund."""
    policy = policy_of(tenant)
    today = facility_today(tenant.facility.timezone)
    lines = {line.id: line for line in order.lines}
    if ticket_ids is None:
        chosen = [t for t in order.tickets if cancellable(t)]
    else:
        by_id = {t.id: t for t in order.tickets}
        unknown = [i for i in ticket_ids if i not in by_id]
        if unknown:
            raise NotFound(
                "No such ticket in this order.", "このご注文にそのチケットはありません。"
            )
        chosen = [by_id[i] for i in dict.fromkeys(ticket_ids)]
        if not all(cancellable(t) for t in chosen):
            raise Conflict(
                "Used or cancelled tickets cannot be cancelled.",
                "使用済みまたはキャンセル済みのチケットはキャンセルできません。",
            )
    if not chosen:
        raise Conflict(
            "Nothing left to cancel in this order.", "キャンセルできるチケットがありません。"
        )
    coupon_lines = _tear_off_lines(order)
    if any(t.order_line_id in coupon_lines for t in chosen):
        # Each coupon carries its book's line price and the book holds one place, so
        # per-ticket refunds and capacity returns would be N times too large. Until
        # whole-book cancellation exists, refuse rather than over-refund.
        raise Conflict(
            "Tear-off coupon books cannot be cancelled here; please ask the staff.",
            "切り離し式の回数券はこちらではキャンセルできません。スタッフにお申し付けください。",
        )
    paid = _paid_prices(order)
    quotes = []
    for ticket in chosen:
        line = lines[ticket.order_line_id]
        days_before = (ticket.valid_from - today).days
        base = paid[ticket.id]
        fee = 0 if waive_fee else policy.fee(base, days_before)
        quotes.append(
            TicketQuote(
                ticket_id=ticket.id,
                base=base,
                handling_fee=line.handling_fee,
                fee=fee,
                refund=refund_for(base, fee),
                tax_rate=line.tax_rate,
                days_before=days_before,
            )
        )
    return Quote(tuple(quotes))


async def find_cancellation(
    session: AsyncSession, tenant: Tenant, key: str
) -> CancelOutcome | None:
    found = await session.scalar(
        sa.select(Cancellation).where(
            Cancellation.facility_id == tenant.id, Cancellation.idempotency_key == key
        )
    )
    if found is None:
        return None
    refund = await session.scalar(sa.select(Refund).where(Refund.cancellation_id == found.id))
    return CancelOutcome(found, refund, created=False)


async def cancel_tickets(
    session: AsyncSession,
    tenant: Tenant,
    order: Order,
    *,
    ticket_ids: list[int] | None,
    actor: str,
    idempotency_key: str,
    settings: Settings,
    reason: str = "",
    waive_fee: bool = False,
    self_service: bool = False,
    expected_refund: int | None = None,
) -> CancelOutcome:
    """Cancel tickets of a paid order and refund what the policy allows, exactly once."""
    replay = await find_cancellation(session, tenant, idempotency_key)
    if replay is not None:
        return replay
    if order.status != OrderStatus.PAID:
        raise Conflict(
            "Only paid orders can be cancelled.", "お支払い済みのご注文のみキャンセルできます。"
        )
    planned = quote(tenant, order, ticket_ids, waive_fee=waive_fee)
    if self_service:
        await _check_self_service(session, tenant, order, planned)
    if expected_refund is not None and expected_refund != planned.refund_amount:
        # F7: no arbitrary partial refunds; the only amount is the policy's.
        raise Conflict(
            f"The refund must be {planned.refund_amount} yen under the cancellation policy"
            f" (base price minus the cancellation fee; handling fees are kept), not"
            f" {expected_refund} yen.",
            f"返金額はキャンセル規定により {planned.refund_amount} 円です(基本料金から"
            f"キャンセル料を差し引き、手数料は返金されません)。"
            f"{expected_refund} 円での返金はできません。",
            refund_amount=planned.refund_amount,
        )
    try:
        outcome = await _write_cancellation(
            session,
            tenant,
            order,
            planned,
            actor=actor,
            key=idempotency_key,
            reason=reason,
            self_service=self_service,
        )
        await session.commit()
    except IntegrityError:
        # The same key won a race in another request: answer with its result.
        await session.rollback()
        await refresh_after_rollback(session, tenant)
        replay = await find_cancellation(session, tenant, idempotency_key)
        if replay is None:
            raise
        return replay
    except BaseException:
        await session.rollback()
        await refresh_after_rollback(session, tenant)
        raise
    if outcome.refund is not None and outcome.refund.state == RefundState.PENDING:
        refund = await send_refund(session, tenant, outcome.refund.id, settings=settings)
        outcome = CancelOutcome(outcome.cancellation, refund, created=True)
    return outcome


async def _check_self_service(
    session: AsyncSession, tenant: Tenant, order: Order, planned: Quote
) -> None:
    policy = policy_of(tenant)
    if not policy.self_cancel:
        raise Forbidden(
            "This facility does not accept cancellations online. Please contact the facility.",
            "この施設ではオンラインでのキャンセルを受け付けていません。施設へお問い合わせください。",
        )
    if not all(policy.visitor_may_cancel(t.days_before) for t in planned.tickets):
        raise Forbidden(
            "The deadline for cancelling online has passed. Please contact the facility.",
            "オンラインでのキャンセル期限を過ぎています。施設へお問い合わせください。",
        )
    # A ticket handed on belongs to the companion now; only staff may cancel it.
    if {t.ticket_id for t in planned.tickets} & await claimed_ticket_ids(session, order):
        raise Forbidden(
            "A ticket you handed on cannot be cancelled online.",
            "お渡し済みのチケットはオンラインでキャンセルできません。",
        )


async def _write_cancellation(
    session: AsyncSession,
    tenant: Tenant,
    order: Order,
    planned: Quote,
    *,
    actor: str,
    key: str,
    reason: str,
    self_service: bool,
) -> CancelOutcome:
    now = utcnow()
    ids = [t.ticket_id for t in planned.tickets]
    for ticket_id in ids:
        if not await order_states.cancel_ticket(session, tenant.id, ticket_id):
            raise Conflict(
                "A ticket changed meanwhile (used or cancelled). Nothing was cancelled.",
                "チケットの状態が変わりました(使用済みまたはキャンセル済み)。キャンセルは行われていません。",
            )
    await _return_capacity(session, order, ids)
    remaining = await session.scalar(
        sa.select(sa.func.count(Ticket.id)).where(
            Ticket.order_id == order.id, Ticket.status != TicketStatus.CANCELLED
        )
    )
    whole_order = remaining == 0
    if whole_order:
        await order_states.cancel_order(session, tenant.id, order.id, now)
    cancellation = Cancellation(
        facility_id=tenant.id,
        order_id=order.id,
        actor=actor,
        self_service=self_service,
        reason=reason,
        ticket_ids=ids,
        base_total=planned.base_total,
        fee=planned.fee,
        handling_fee_kept=planned.handling_fee_kept,
        refund_amount=planned.refund_amount,
        detail={
            "tickets": [
                {
                    "id": t.ticket_id,
                    "base": t.base,
                    "fee": t.fee,
                    "refund": t.refund,
                    "handling_fee": t.handling_fee,
                    "tax_rate": t.tax_rate,
                }
                for t in planned.tickets
            ]
        },
        idempotency_key=key,
    )
    session.add(cancellation)
    await session.flush()
    if whole_order:
        await outbox.record(
            session, tenant, ORDER_CANCELLED, payloads.order_cancelled(order, cancellation)
        )
    refund = await record_refund(session, tenant, order, cancellation)
    session.add(
        AuditLog(
            facility_id=tenant.id,
            at=now,
            actor=actor,
            action="order.cancelled" if whole_order else "tickets.cancelled",
            subject=f"order:{order.code}",
            data={
                "tickets": ids,
                "fee": planned.fee,
                "refund": planned.refund_amount,
                "handling_fee_kept": planned.handling_fee_kept,
                "reason": reason,
                "self_service": self_service,
                "cancellation": cancellation.id,
            },
        )
    )
    await session.flush()
    return CancelOutcome(cancellation, refund, created=True)


async def _return_capacity(session: AsyncSession, order: Order, ticket_ids: list[int]) -> None:
    """Give the cancelled places back with one atomic decrement per capacity row."""
    line_of = {t.id: t.order_line_id for t in order.tickets}
    per_line = Counter(line_of[i] for i in ticket_ids)
    rows = await session.execute(
        sa.select(OrderLine.id, OrderLine.capacity_id).where(OrderLine.id.in_(per_line))
    )
    per_row: Counter[int] = Counter()
    for line_id, capacity_id in rows:
        if capacity_id is not None:
            per_row[capacity_id] += per_line[line_id]
    for capacity_id in sorted(per_row):  # same lock order as sales
        n = per_row[capacity_id]
        await session.execute(
            sa.update(Capacity)
            .where(Capacity.id == capacity_id, Capacity.sold >= n)
            .values(sold=Capacity.sold - n)
        )
