"""The order and ticket state machines: every move of ``Order.status`` and ``Ticket.status``.

Each transition is one conditional UPDATE from the state it allows, scoped by facility,
and says whether it moved the row. A caller that lost a race or repeats itself (a
duplicated webhook, a retried request, a second gate scan) gets False and nothing
changes, so nothing is issued, sold or refunded twice. None of them commits: the
caller's transaction decides, together with what it does around the move (issuing
tickets, giving places back). The states and moves are tabled in ``docs/states.md``.

Orders and tickets are born in their first state by the sale (``sale_builder``: pending,
or paid with valid tickets for an immediate payment; ``issuing.new_tickets``).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Order, Ticket
from core_service.platform.database import updated_one
from kippu_contract.states import OrderStatus, TicketStatus


async def _move_order(
    session: AsyncSession,
    facility_id: int,
    order_id: int,
    source: OrderStatus,
    target: OrderStatus,
    **values: object,
) -> bool:
    return await updated_one(
        session,
        sa.update(Order)
        .where(Order.id == order_id, Order.facility_id == facility_id, Order.status == source)
        .values(status=target, **values),
    )


async def pay_order(
    session: AsyncSession, facility_id: int, order_id: int, now: dt.datetime
) -> bool:
    """pending → paid: the order's payment arrived while its places were held."""
    return await _move_order(
        session,
        facility_id,
        order_id,
        OrderStatus.PENDING,
        OrderStatus.PAID,
        paid_at=now,
        hold_expires_at=None,
    )


async def revive_order(
    session: AsyncSession, facility_id: int, order_id: int, now: dt.datetime
) -> bool:
    """expired → paid: the payment arrived after the hold expired and the caller has
    sold the places again."""
    return await _move_order(
        session, facility_id, order_id, OrderStatus.EXPIRED, OrderStatus.PAID, paid_at=now
    )


async def expire_order(session: AsyncSession, facility_id: int, order_id: int) -> bool:
    """pending → expired: not paid in time; the caller gives the held places back."""
    return await _move_order(
        session,
        facility_id,
        order_id,
        OrderStatus.PENDING,
        OrderStatus.EXPIRED,
        hold_expires_at=None,
    )


async def cancel_order(
    session: AsyncSession, facility_id: int, order_id: int, now: dt.datetime
) -> bool:
    """paid → cancelled: its last ticket was cancelled."""
    return await _move_order(
        session,
        facility_id,
        order_id,
        OrderStatus.PAID,
        OrderStatus.CANCELLED,
        cancelled_at=now,
    )


async def hold_until(
    session: AsyncSession,
    facility_id: int,
    order_id: int,
    until: dt.datetime,
    *,
    only_shorten: bool = False,
) -> bool:
    """Move a pending order's hold to ``until`` (no state change: only a pending order
    holds places). ``only_shorten`` leaves a hold that ends sooner already alone."""
    condition = [
        Order.id == order_id,
        Order.facility_id == facility_id,
        Order.status == OrderStatus.PENDING,
    ]
    if only_shorten:
        condition.append(Order.hold_expires_at > until)
    return await updated_one(
        session, sa.update(Order).where(*condition).values(hold_expires_at=until)
    )


async def cancel_ticket(session: AsyncSession, facility_id: int, ticket_id: int) -> bool:
    """valid → cancelled, for a ticket not used at all: a used ticket, or a coupon book
    or pass used once, stays sold."""
    return await updated_one(
        session,
        sa.update(Ticket)
        .where(
            Ticket.id == ticket_id,
            Ticket.facility_id == facility_id,
            Ticket.status == TicketStatus.VALID,
            Ticket.uses_left == Ticket.uses_total,
        )
        .values(status=TicketStatus.CANCELLED),
    )


async def use_ticket(
    session: AsyncSession, facility_id: int, ticket_id: int, now: dt.datetime
) -> bool:
    """One use of a valid ticket with uses left: valid → valid with one use fewer, or
    valid → used for its last use. (A pass admits once a day without using up: the
    check-in service decides that, and a pass stays valid.)"""
    return await updated_one(
        session,
        sa.update(Ticket)
        .where(
            Ticket.id == ticket_id,
            Ticket.facility_id == facility_id,
            Ticket.status == TicketStatus.VALID,
            Ticket.uses_left > 0,
        )
        .values(
            uses_left=Ticket.uses_left - 1,
            status=sa.case(
                (Ticket.uses_left == 1, sa.literal(TicketStatus.USED, Ticket.status.type)),
                else_=Ticket.status,
            ),
            first_used_at=sa.func.coalesce(Ticket.first_used_at, now),
        ),
    )
