"""An order becoming paid: pending (or expired) to paid exactly once, its tickets
issued, held places turned into sold ones, and plugins told.

The moves themselves are :mod:`core_service.orders.states`; this module does what comes
with them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog import capacity, rules
from core_service.models import (
    Capacity,
    Customer,
    Order,
    OrderLine,
    Product,
    StayCharge,
    Ticket,
)
from core_service.models.catalog import PassHolder
from core_service.orders import states
from core_service.platform.tenancy import Tenant
from core_service.plugins.values import PaidOrder
from core_service.vouchers.uses import retake_use
from kippu_contract.admission import ProductKind


async def mark_paid(
    session: AsyncSession, tenant: Tenant, order: Order, now: dt.datetime
) -> list[OrderLine] | None:
    """pending → paid exactly once and issue the tickets; the order's lines, or None if
    it was not pending. Held places are NOT converted here: see :func:`convert_holds`."""
    if not await states.pay_order(session, tenant.id, order.id, now):
        return None
    return await issue_tickets(session, tenant, order, now)


async def issue_tickets(
    session: AsyncSession, tenant: Tenant, order: Order, now: dt.datetime
) -> list[OrderLine]:
    """The tickets of an order that has just become paid; its lines."""
    lines = (
        await session.scalars(sa.select(OrderLine).where(OrderLine.order_id == order.id))
    ).all()
    for line in lines:
        product = await session.get(Product, line.product_id)
        assert product is not None
        if product.kind == ProductKind.TIME_STAY and await _is_stay_charge(session, order.id):
            continue  # a stay's charge (checkin.stay_charges): the stay has its ticket
        holders = (
            (
                await session.scalars(
                    sa.select(PassHolder)
                    .where(PassHolder.order_line_id == line.id)
                    .order_by(PassHolder.position)
                )
            ).all()
            if product.holder_required
            else []
        )
        tickets = new_tickets(tenant, line, product, list(holders))
        session.add_all(tickets)
        await session.flush()
        _link_holders([list(holders)], tickets)
    if order.customer_id is not None:
        await note_first_purchase(session, order.customer_id, now)
    await session.refresh(order)
    return list(lines)


async def _is_stay_charge(session: AsyncSession, order_id: int) -> bool:
    found = await session.scalar(sa.select(StayCharge.id).where(StayCharge.order_id == order_id))
    return found is not None


async def convert_holds(session: AsyncSession, lines: list[OrderLine]) -> None:
    """Turn the held places of paid lines into sold ones. The caller runs this last
    before its COMMIT, so the hot capacity row stays locked as briefly as possible."""
    for line in sorted(lines, key=lambda item: item.capacity_id or 0):
        if line.capacity_id is not None:
            await capacity.convert_hold(session, line.capacity_id, line.quantity)


async def note_first_purchase(session: AsyncSession, customer_id: int, now: dt.datetime) -> None:
    await session.execute(
        sa.update(Customer)
        .where(Customer.id == customer_id, Customer.first_purchase_at.is_(None))
        .values(first_purchase_at=now)
    )


def new_tickets(
    tenant: Tenant, line: OrderLine, product: Product, holders: list[PassHolder]
) -> list[Ticket]:
    """The tickets of one paid line (not yet added to the session)."""
    assert line.visit_date is not None
    valid_from, valid_until = rules.validity(product, line.visit_date)
    # A tear-off coupon book is N single-use tickets (one QR each) per book bought; the
    # line keeps quantity = books and the book price, so sales and refunds are unchanged.
    tear_off = product.kind == "coupon_book" and product.coupon_tear_off
    count, uses = (line.quantity * product.uses, 1) if tear_off else (line.quantity, product.uses)
    return [
        Ticket(
            facility_id=tenant.id,
            order_id=line.order_id,
            order_line_id=line.id,
            product_id=line.product_id,
            price_category_id=line.price_category_id,
            valid_from=valid_from,
            valid_until=valid_until,
            slot=line.slot,
            uses_total=uses,
            uses_left=uses,
            holder_name=holders[i].name if i < len(holders) else "",
        )
        for i in range(count)
    ]


def _link_holders(holders_per_line: list[list[PassHolder]], tickets: list[Ticket]) -> None:
    """Point each pass holder at the ticket issued for them (tickets carry ids by now)."""
    by_line: dict[int, list[Ticket]] = defaultdict(list)
    for ticket in tickets:
        by_line[ticket.order_line_id].append(ticket)
    for holders in holders_per_line:
        for holder in holders:
            holder.ticket_id = by_line[holder.order_line_id][holder.position].id


async def announce_paid(tenant: Tenant, order: Order) -> None:
    await tenant.plugins.order_paid(
        PaidOrder(
            id=order.id,
            code=order.code,
            channel=order.channel,
            total=order.total,
            ticket_ids=tuple(t.id for t in order.tickets),
        )
    )


async def revive_expired(
    session: AsyncSession, tenant: Tenant, order: Order, now: dt.datetime
) -> bool:
    """expired → paid when every place of the order can be sold again, with its tickets
    issued; else nothing (False)."""
    lines = (
        await session.scalars(sa.select(OrderLine).where(OrderLine.order_id == order.id))
    ).all()
    taken: list[OrderLine] = []
    for line in sorted(lines, key=lambda item: item.capacity_id or 0):
        if line.capacity_id is None:
            continue
        if not await capacity.sell_now(session, line.capacity_id, line.quantity):
            await _give_back(session, taken)
            return False
        taken.append(line)
    if not await states.revive_order(session, tenant.id, order.id, now):
        # Revived meanwhile by another payment of the order: these places are not ours.
        await _give_back(session, taken)
        return False
    if order.voucher_id is not None:
        # Its expiry gave the voucher's use back; the visitor paid the discounted price.
        await retake_use(session, tenant.id, order.voucher_id)
    # The places are sold already: no holds to convert.
    await issue_tickets(session, tenant, order, now)
    return True


async def _give_back(session: AsyncSession, taken: list[OrderLine]) -> None:
    """Return the places a failed re-acquisition took."""
    for done in taken:
        await session.execute(
            sa.update(Capacity)
            .where(Capacity.id == done.capacity_id)
            .values(sold=Capacity.sold - done.quantity)
        )
