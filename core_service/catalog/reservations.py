"""Taking places before the order is written, so no lock waits on a network round trip.

A sale takes its places first, on a connection of its own, and writes the order after:

1. :func:`reserve` runs, per capacity row, ONE autocommitted statement that adds the
   places with the conditional UPDATE (``... WHERE sold + held + n <= capacity``) and,
   in the same statement, writes a :class:`CapacityReservation` row as the receipt. The
   hot row's lock lives only inside the server for that statement and its commit — the
   same as the bare UPDATE in a tight loop — instead of across the order transaction's
   round trips, where hundreds of buyers of one slot would queue behind it.
2. The order transaction deletes the receipts (:func:`consume`) and fails if one is gone.
3. If the order cannot be written, :func:`release` gives the places back, again in one
   statement per receipt; deleting the receipt and returning the places happen together,
   so a release racing the sweeper or a late commit gives back at most once.
4. A crash between 1 and 2 leaves a receipt behind; :func:`sweep` (the ``sweep_reservations`` job)
   releases receipts older than :data:`RESERVATION_TTL`. An order transaction still
   running then finds its receipt gone and rolls back: never an order without places.

PostgreSQL runs each step as one data-modifying CTE. SQLite cannot put an UPDATE in a
CTE; it runs the two statements in one short transaction, which is the same there
because SQLite has one writer at a time anyway.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from core_service.catalog.capacity import capacity_row_id, ensure_capacity_row
from core_service.models import Capacity, CapacityReservation, Product, utcnow
from core_service.platform.database import affected_rows, driver_connection

#: A receipt this old belongs to a request that died; an order takes milliseconds.
RESERVATION_TTL = dt.timedelta(minutes=5)

SOLD, HELD = "sold", "held"


@dataclass(frozen=True, slots=True)
class Want:
    """Places wanted of one product on one date and slot."""

    product: Product
    date: dt.date
    slot: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """A receipt: ``quantity`` places of ``capacity_id`` added to ``counter``."""

    id: int
    capacity_id: int
    quantity: int
    counter: str


class NotEnoughPlaces(Exception):
    """The places of ``want`` are not all free; everything taken before was given back."""

    def __init__(self, want: Want) -> None:
        super().__init__(f"not enough places for product {want.product.id} {want.date}")
        self.want = want


def _take(row: sa.ColumnElement[bool], quantity: int, counter: str) -> sa.Update:
    """The conditional UPDATE taking ``quantity`` places of the capacity row ``row`` names."""
    column = Capacity.sold if counter == SOLD else Capacity.held
    return (
        sa.update(Capacity)
        .where(row, Capacity.sold + Capacity.held + quantity <= Capacity.capacity)
        .values({column: column + quantity, Capacity.updated_at: utcnow()})
    )


def reserve_sql(counter: str, *, by_id: bool) -> str:
    """PostgreSQL: the ONE statement that takes places and writes the receipt.

    Parameters: $1 quantity, $2 facility id, $3 now, then the row: $4 capacity id
    (``by_id``) or $4 product id, $5 date, $6 slot. Returns (receipt id, capacity id), no
    row when the row is full or missing. Plain SQL sent straight to the driver: this is
    the hottest statement of an onsale, and building it with SQLAlchemy per call cost
    more than running it. ``updated_at`` is spelled out: onupdate defaults do not apply
    inside a CTE, and the exports' watermark reads it.
    """
    column = "sold" if counter == SOLD else "held"
    row = "id = $4" if by_id else "product_id = $4 AND date = $5 AND slot = $6"
    return (
        f"WITH taken AS (UPDATE capacity SET {column} = {column} + $1, updated_at = $3"
        f" WHERE facility_id = $2 AND {row} AND sold + held + $1 <= capacity RETURNING id)"
        " INSERT INTO capacity_reservation (capacity_id, facility_id, quantity, counter,"
        f" created_at) SELECT id, $2, $1, '{counter}', $3 FROM taken"
        " RETURNING id, capacity_id"
    )


_RESERVE_SQL = {
    (counter, by_id): reserve_sql(counter, by_id=by_id)
    for counter in (SOLD, HELD)
    for by_id in (False, True)
}


async def _reserve_row(
    connection: AsyncConnection,
    facility_id: int,
    want: Want,
    capacity_id: int | None,
    counter: str,
) -> tuple[int, int] | None:
    """Take the places of one row (named by id, or by the want's natural key) and write
    the receipt: (receipt id, capacity id), or None when the row is full or missing."""
    now = utcnow()
    if connection.dialect.name == "postgresql":
        row = (capacity_id,) if capacity_id is not None else (want.product.id, want.date, want.slot)
        driver = await driver_connection(connection)
        found = await driver.fetchrow(
            _RESERVE_SQL[(counter, capacity_id is not None)], want.quantity, facility_id, now, *row
        )
        return (found[0], found[1]) if found else None
    by = (
        Capacity.id == capacity_id
        if capacity_id is not None
        else sa.and_(
            Capacity.product_id == want.product.id,
            Capacity.date == want.date,
            Capacity.slot == want.slot,
        )
    )
    taken = _take(sa.and_(Capacity.facility_id == facility_id, by), want.quantity, counter)
    async with connection.begin():
        found_id = await connection.scalar(taken.returning(Capacity.id))
        if found_id is None:
            return None
        receipt_id = await connection.scalar(
            sa.insert(CapacityReservation)
            .values(
                capacity_id=found_id,
                facility_id=facility_id,
                quantity=want.quantity,
                counter=counter,
                created_at=now,
            )
            .returning(CapacityReservation.id)
        )
        assert receipt_id is not None  # INSERT ... RETURNING always returns the row
        return int(receipt_id), int(found_id)


async def _reserve_want(
    connection: AsyncConnection, facility_id: int, want: Want, counter: str
) -> Reservation | None:
    """Take one want's places; None for a product without a capacity limit."""
    # The common case in one round trip: the row exists, named by its natural key.
    found = await _reserve_row(connection, facility_id, want, None, counter)
    if found is None:
        capacity_id = await _existing_capacity_id(connection, facility_id, want)
        if capacity_id is None:
            if want.product.slot_capacity(want.slot) is None:
                return None  # no row and no default: this product has no capacity limit
            # No row yet: create it from the product's default.
            capacity_id = await _capacity_id(connection, want)
            if capacity_id is None:
                return None
        # Once more by id: the row may be one another buyer made after the first attempt
        # missed it (the first buyers of a date race to make it), so a miss is not yet
        # "sold out". A row that was there and full is refused by this attempt too.
        found = await _reserve_row(connection, facility_id, want, capacity_id, counter)
        if found is None:
            raise NotEnoughPlaces(want)
    receipt_id, capacity_id = found
    return Reservation(receipt_id, capacity_id, want.quantity, counter)


async def reserve(
    engine: AsyncEngine, facility_id: int, wants: list[Want], *, sell: bool
) -> dict[tuple[int, dt.date, str], Reservation | None]:
    """Take every wanted place (sold at once, or held for a checkout) or none.

    Returns the receipt per (product id, date, slot); None where the product has no
    capacity limit. Raises :class:`NotEnoughPlaces` after giving back what it took.
    """
    async with engine.connect() as raw:
        return await reserve_on(await autocommit(raw), facility_id, wants, sell=sell)


async def reserve_on(
    connection: AsyncConnection, facility_id: int, wants: list[Want], *, sell: bool
) -> dict[tuple[int, dt.date, str], Reservation | None]:
    """:func:`reserve` on a connection :func:`autocommit` prepared."""
    counter = SOLD if sell else HELD
    taken: dict[tuple[int, dt.date, str], Reservation | None] = {}
    try:
        # Sorted so that two orders wanting the same rows take them in the same order.
        for want in sorted(wants, key=lambda w: (w.product.id, w.date, w.slot)):
            key = (want.product.id, want.date, want.slot)
            taken[key] = await _reserve_want(connection, facility_id, want, counter)
    except BaseException:
        await release_on(connection, [r for r in taken.values() if r is not None])
        raise
    return taken


async def autocommit(connection: AsyncConnection) -> AsyncConnection:
    """Each statement its own transaction on PostgreSQL; on SQLite the callers here open
    their own short transactions."""
    if connection.dialect.name == "postgresql":
        return await connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection  # SQLite: _reserve_row and _release_row open their own short transaction


async def _existing_capacity_id(
    connection: AsyncConnection, facility_id: int, want: Want
) -> int | None:
    key = (facility_id, want.product.id, want.date, want.slot)
    if connection.dialect.name == "postgresql":
        return await capacity_row_id(connection, *key)
    async with connection.begin():
        return await capacity_row_id(connection, *key)


async def _capacity_id(connection: AsyncConnection, want: Want) -> int | None:
    if connection.dialect.name == "postgresql":
        return await ensure_capacity_row(connection, want.product, want.date, want.slot)
    async with connection.begin():
        return await ensure_capacity_row(connection, want.product, want.date, want.slot)


async def consume(session: AsyncSession, receipts: list[Reservation]) -> bool:
    """Delete the receipts inside the order transaction; False if any was swept meanwhile."""
    if not receipts:
        return True
    result = await session.execute(
        sa.delete(CapacityReservation).where(CapacityReservation.id.in_([r.id for r in receipts]))
    )
    return affected_rows(result) == len(receipts)


async def _release_row(connection: AsyncConnection, receipt_id: int) -> bool:
    """Delete one receipt and give its places back, in one step; False if it was gone."""
    gone = sa.delete(CapacityReservation).where(CapacityReservation.id == receipt_id)
    if connection.dialect.name == "postgresql":
        cte = gone.returning(
            CapacityReservation.capacity_id,
            CapacityReservation.quantity,
            CapacityReservation.counter,
        ).cte("gone")
        statement = (
            sa.update(Capacity)
            .where(Capacity.id == cte.c.capacity_id)
            .values(
                sold=Capacity.sold - sa.case((cte.c.counter == SOLD, cte.c.quantity), else_=0),
                held=Capacity.held - sa.case((cte.c.counter == HELD, cte.c.quantity), else_=0),
                updated_at=utcnow(),  # see _take
            )
        )
        return (await connection.execute(statement)).rowcount == 1
    async with connection.begin():
        row = (
            await connection.execute(
                gone.returning(
                    CapacityReservation.capacity_id,
                    CapacityReservation.quantity,
                    CapacityReservation.counter,
                )
            )
        ).one_or_none()
        if row is None:
            return False
        column = Capacity.sold if row.counter == SOLD else Capacity.held
        await connection.execute(
            sa.update(Capacity)
            .where(Capacity.id == row.capacity_id)
            .values({column: column - row.quantity})
        )
        return True


async def release_on(connection: AsyncConnection, receipts: list[Reservation]) -> None:
    for receipt in receipts:
        await _release_row(connection, receipt.id)


async def release(engine: AsyncEngine, receipts: list[Reservation]) -> None:
    """Give back the places of receipts whose order was not written."""
    if not receipts:
        return
    async with engine.connect() as raw:
        await release_on(await autocommit(raw), receipts)


async def sweep(engine: AsyncEngine, now: dt.datetime | None = None) -> int:
    """Give back the places of receipts left by crashed requests; returns how many."""
    cutoff = (now or utcnow()) - RESERVATION_TTL
    async with engine.connect() as raw:
        connection = await autocommit(raw)
        stale = (
            await connection.scalars(
                sa.select(CapacityReservation.id).where(CapacityReservation.created_at < cutoff)
            )
        ).all()
        if connection.dialect.name != "postgresql":
            await connection.commit()  # end the read so each release is its own transaction
        released = 0
        for receipt_id in stale:
            released += await _release_row(connection, receipt_id)
    return released
