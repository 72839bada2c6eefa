"""Expiring checkouts that were never paid and giving their held places (and voucher
uses) back."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog import capacity
from core_service.models import (
    Order,
    OrderLine,
    utcnow,
)
from core_service.orders import states
from core_service.vouchers.uses import give_back_use
from kippu_contract.states import OrderStatus


async def expire_holds(session: AsyncSession, now: dt.datetime | None = None) -> int:
    """Expire unpaid checkouts past their hold (all facilities); returns how many."""
    now = now or utcnow()
    due = (
        await session.execute(
            sa.select(Order.facility_id, Order.id, Order.voucher_id).where(
                Order.status == OrderStatus.PENDING, Order.hold_expires_at < now
            )
        )
    ).all()
    expired = 0
    for facility_id, order_id, voucher_id in due:
        if not await states.expire_order(session, facility_id, order_id):
            continue  # paid meanwhile
        lines = await session.scalars(sa.select(OrderLine).where(OrderLine.order_id == order_id))
        for line in lines:
            if line.capacity_id is not None:
                await capacity.release_hold(session, line.capacity_id, line.quantity)
        if voucher_id is not None:
            await give_back_use(session, facility_id, voucher_id)
        expired += 1
        await session.commit()
    await session.commit()
    return expired
