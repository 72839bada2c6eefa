"""Capacity rows and the atomic statements that sell places without overselling.

Each change is one conditional UPDATE (``... WHERE sold + held + n <= capacity``) whose
row count says whether it happened: there is no read-then-write, so concurrent buyers on
the last places cannot oversell on PostgreSQL or SQLite. New orders take their places
through ``catalog.reservations`` (one autocommitted statement, no lock held across a
round trip); the statements here serve payment confirmation, expiry and cancellation.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core_service.models import Capacity, Product
from core_service.platform.database import affected_rows, insert_or_ignore


async def capacity_row_id(
    session: AsyncSession | AsyncConnection,
    facility_id: int,
    product_id: int,
    date: dt.date,
    slot: str,
) -> int | None:
    """Id of the capacity row for (product, date, slot), or None if there is none yet."""
    return await session.scalar(
        sa.select(Capacity.id).where(
            Capacity.facility_id == facility_id,
            Capacity.product_id == product_id,
            Capacity.date == date,
            Capacity.slot == slot,
        )
    )


async def ensure_capacity_row(
    session: AsyncSession | AsyncConnection, product: Product, date: dt.date, slot: str
) -> int | None:
    """Id of the capacity row for (product, date, slot), created from the product's
    default capacity if missing; None for products without a capacity limit."""
    existing = await capacity_row_id(session, product.facility_id, product.id, date, slot)
    if existing is not None:
        return existing
    # A slot has its own capacity; the whole day falls back to the daily one.
    default = product.slot_capacity(slot)
    if default is None:
        return None
    # A concurrent buyer may create the row first; either way one row results.
    await insert_or_ignore(
        session,
        Capacity,
        facility_id=product.facility_id,
        product_id=product.id,
        date=date,
        slot=slot,
        capacity=default,
    )
    return await capacity_row_id(session, product.facility_id, product.id, date, slot)


async def sell_now(session: AsyncSession, capacity_id: int, quantity: int) -> bool:
    """Sell ``quantity`` places straight away (kiosk sales); False if not all free."""
    result = await session.execute(
        sa.update(Capacity)
        .where(
            Capacity.id == capacity_id,
            Capacity.sold + Capacity.held + quantity <= Capacity.capacity,
        )
        .values(sold=Capacity.sold + quantity)
    )
    return affected_rows(result) == 1


async def convert_hold(session: AsyncSession, capacity_id: int, quantity: int) -> None:
    """Turn held places into sold ones when the checkout is paid."""
    await session.execute(
        sa.update(Capacity)
        .where(Capacity.id == capacity_id)
        .values(held=Capacity.held - quantity, sold=Capacity.sold + quantity)
    )


async def release_hold(session: AsyncSession, capacity_id: int, quantity: int) -> None:
    await session.execute(
        sa.update(Capacity).where(Capacity.id == capacity_id).values(held=Capacity.held - quantity)
    )


async def remaining(
    session: AsyncSession, product: Product, date: dt.date, slot: str = ""
) -> tuple[int | None, int | None]:
    """(places left, capacity) for a date; (None, None) when unlimited."""
    row = await session.execute(
        sa.select(Capacity.capacity, Capacity.sold, Capacity.held).where(
            Capacity.facility_id == product.facility_id,
            Capacity.product_id == product.id,
            Capacity.date == date,
            Capacity.slot == slot,
        )
    )
    found = row.first()
    if found is None:
        cap = product.slot_capacity(slot)
        return (cap, cap) if cap is not None else (None, None)
    capacity, sold, held = found
    return max(capacity - sold - held, 0), capacity


async def rows_between(
    session: AsyncSession, product: Product, first: dt.date, last: dt.date
) -> dict[tuple[dt.date, str], tuple[int, int]]:
    """(places left, capacity) of every existing row of ``product`` from ``first`` to
    ``last`` (both included), by (date, slot): one query for a whole calendar."""
    rows = await session.execute(
        sa.select(
            Capacity.date, Capacity.slot, Capacity.capacity, Capacity.sold, Capacity.held
        ).where(
            Capacity.facility_id == product.facility_id,
            Capacity.product_id == product.id,
            Capacity.date >= first,
            Capacity.date <= last,
        )
    )
    return {(date, slot): (max(cap - sold - held, 0), cap) for date, slot, cap, sold, held in rows}
