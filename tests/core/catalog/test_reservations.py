"""Places taken before the order is written: receipts, release on failure, the sweeper."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core_service.catalog import reservations
from core_service.catalog.service import price_categories_by_id
from core_service.demo.data import DemoFacility
from core_service.models import Capacity, CapacityReservation, Order, Ticket, utcnow
from core_service.orders import placement, writer
from core_service.orders.requests import CheckoutRequest, ImmediatePayment, LineRequest
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.errors import Conflict
from core_service.platform.settings import Settings
from core_service.platform.tenancy import load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager

HOST = PluginHost(build_plugin_manager())
VISIT = dt.date.today() + dt.timedelta(days=4)


def _kiosk_sale(demo: DemoFacility, quantity: int = 2) -> CheckoutRequest:
    return CheckoutRequest(
        channel="kiosk",
        lines=[LineRequest(demo.adult_category_id, quantity, VISIT)],
        answers={"consent_waiver": True},
        idempotency_key=f"reservations-{quantity}",
        payment=ImmediatePayment("kiosk_terminal", "card", "ref", 2000 * quantity),
    )


async def _state(session, demo: DemoFacility) -> tuple[int, int, int, int, int]:
    """(sold, held, receipts, orders, tickets) of the visit date."""
    row = (
        await session.execute(
            sa.select(Capacity.sold, Capacity.held).where(
                Capacity.facility_id == demo.facility_id, Capacity.date == VISIT
            )
        )
    ).one_or_none()
    sold, held = row if row is not None else (0, 0)
    receipts = await session.scalar(sa.select(sa.func.count(CapacityReservation.id)))
    orders = await session.scalar(sa.select(sa.func.count(Order.id)))
    tickets = await session.scalar(sa.select(sa.func.count(Ticket.id)))
    return sold, held, receipts, orders, tickets


async def test_a_sale_consumes_its_receipt(db_settings: Settings, demo: DemoFacility) -> None:
    engine = make_engine(db_settings)
    async with make_sessionmaker(engine)() as session:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        order, created = await placement.place_order(
            session, tenant, _kiosk_sale(demo), hold_minutes=15
        )
        assert created and order.status == "paid" and len(order.tickets) == 2
        assert all(line.capacity_id for line in order.lines)
        assert await _state(session, demo) == (2, 0, 0, 1, 2)
    await engine.dispose()


async def test_a_failed_order_write_gives_the_places_back(
    db_settings: Settings, demo: DemoFacility, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_write(*args: object, **kwargs: object) -> Order:
        raise RuntimeError("the database went away mid-order")

    # Both writers: the ORM one (SQLite) and the one-statement one (PostgreSQL).
    monkeypatch.setattr(writer, "write_with_orm", broken_write)
    monkeypatch.setattr(writer.sale_statement, "write_order", broken_write)
    engine = make_engine(db_settings)
    async with make_sessionmaker(engine)() as session:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        with pytest.raises(RuntimeError):
            await placement.place_order(session, tenant, _kiosk_sale(demo), hold_minutes=15)
        assert await _state(session, demo) == (0, 0, 0, 0, 0)
    await engine.dispose()


async def test_the_sweeper_releases_receipts_of_crashed_requests_only(
    db_settings: Settings, demo: DemoFacility
) -> None:
    engine = make_engine(db_settings)
    async with make_sessionmaker(engine)() as session:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        categories = await price_categories_by_id(session, tenant, [demo.adult_category_id])
        product = categories[demo.adult_category_id].product
        await session.commit()
        # A request took 3 places (sold) and 1 (held) and then died before its order.
        want = [reservations.Want(product, VISIT, "", 3)]
        taken = await reservations.reserve(engine, demo.facility_id, want, sell=True)
        await reservations.reserve(
            engine, demo.facility_id, [reservations.Want(product, VISIT, "", 1)], sell=False
        )
        assert await _state(session, demo) == (3, 1, 2, 0, 0)
        await session.commit()
        assert await reservations.sweep(engine) == 0  # young receipts are left alone
        later = utcnow() + reservations.RESERVATION_TTL + dt.timedelta(seconds=1)
        assert await reservations.sweep(engine, later) == 2
        assert await reservations.sweep(engine, later) == 0  # given back once
        assert await _state(session, demo) == (0, 0, 0, 0, 0)
        # The crashed request's transaction, should it wake up, cannot use the receipt.
        receipt = next(iter(taken.values()))
        assert receipt is not None
        assert await reservations.consume(session, [receipt]) is False
        await session.rollback()
    await engine.dispose()


async def test_an_order_whose_receipt_was_swept_is_refused_whole(
    db_settings: Settings, demo: DemoFacility, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(db_settings)

    def after_a_sweep(real_write):  # noqa: ANN001, ANN202
        async def write(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            # The request stalled for longer than a receipt lives; the sweeper ran meanwhile.
            later = utcnow() + reservations.RESERVATION_TTL + dt.timedelta(seconds=1)
            assert await reservations.sweep(engine, later) == 1
            return await real_write(*args, **kwargs)

        return write

    # Both writers: the ORM one (SQLite) and the one-statement one (PostgreSQL).
    monkeypatch.setattr(writer, "write_with_orm", after_a_sweep(writer.write_with_orm))
    monkeypatch.setattr(
        writer.sale_statement,
        "write_order",
        after_a_sweep(writer.sale_statement.write_order),
    )
    async with make_sessionmaker(engine)() as session:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        with pytest.raises(Conflict):
            await placement.place_order(session, tenant, _kiosk_sale(demo), hold_minutes=15)
        assert await _state(session, demo) == (0, 0, 0, 0, 0)
    await engine.dispose()


async def test_a_capacity_row_another_buyer_just_made_is_not_sold_out(
    db_settings: Settings, demo: DemoFacility, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first buyers of a date race to make its capacity row: the one whose attempt
    missed the row because it did not exist yet must try the row the other made, not
    call a date with places left sold out."""
    real_reserve_row = reservations._reserve_row

    async def another_buyer_makes_the_row_first(
        connection, facility_id, want, capacity_id, counter
    ):  # type: ignore[no-untyped-def]
        found = await real_reserve_row(connection, facility_id, want, capacity_id, counter)
        if capacity_id is None and found is None:
            # Between this buyer's miss and its next look, the other buyer makes the row.
            await reservations._capacity_id(connection, want)
        return found

    monkeypatch.setattr(reservations, "_reserve_row", another_buyer_makes_the_row_first)
    engine = make_engine(db_settings)
    async with make_sessionmaker(engine)() as session:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        order, created = await placement.place_order(
            session, tenant, _kiosk_sale(demo), hold_minutes=15
        )
        assert created and order.status == "paid" and len(order.tickets) == 2
        assert (await _state(session, demo))[:3] == (2, 0, 0)
    await engine.dispose()
