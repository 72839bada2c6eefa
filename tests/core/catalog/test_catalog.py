"""Catalog rules at the sales service, on SQLite and PostgreSQL: sales windows, closed
days, maximum per order, time-slot capacity, add-ons, pass holders, late payments."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog.rules import Holder
from core_service.catalog.service import availability
from core_service.demo.data import DemoFacility
from core_service.models import Capacity, Facility, Order, Product, Ticket, utcnow
from core_service.models.catalog import PassHolder
from core_service.orders.expiry import expire_holds
from core_service.orders.placement import place_order
from core_service.orders.requests import CheckoutRequest, LineRequest
from core_service.payments import states as payment_states
from core_service.payments.transitions import confirm_payment, create_payment, payment_outcome
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.errors import InvalidInput, SoldOut
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant, load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager
from kippu_contract.facility_time import facility_today
from kippu_contract.states import OrderStatus, PaymentState

HOST = PluginHost(build_plugin_manager())
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
async def session(db_settings: Settings, demo: DemoFacility) -> AsyncIterator[AsyncSession]:
    engine = make_engine(db_settings)
    try:
        async with make_sessionmaker(engine)() as db:
            yield db
    finally:
        await engine.dispose()


async def _tenant(session: AsyncSession, demo: DemoFacility) -> Tenant:
    return await load_tenant(session, HOST, facility_id=demo.facility_id)


def _day(days: int = 3) -> dt.date:
    return facility_today("Asia/Tokyo") + dt.timedelta(days=days)


def _request(*lines: LineRequest, channel: str = "web", key: str | None = None) -> CheckoutRequest:
    return CheckoutRequest(
        channel=channel,
        lines=list(lines),
        answers={"consent_waiver": True},
        customer_email="visitor@example.com",
        idempotency_key=key,
    )


async def _buy(session: AsyncSession, demo: DemoFacility, *lines: LineRequest) -> Order:
    tenant = await _tenant(session, demo)
    order, _ = await place_order(session, tenant, _request(*lines), hold_minutes=15)
    return order


async def _update_product(session: AsyncSession, product_id: int, **values: Any) -> None:
    await session.execute(sa.update(Product).where(Product.id == product_id).values(**values))
    await session.commit()


async def _refused(session: AsyncSession, demo: DemoFacility, *lines: LineRequest) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        await _buy(session, demo, *lines)
    return caught.value


async def test_sales_window_refuses_before_start_and_after_end(
    session: AsyncSession, demo: DemoFacility
) -> None:
    line = LineRequest(demo.adult_category_id, 1, _day())
    await _update_product(
        session, demo.day_ticket_id, sale_starts_at=utcnow() + dt.timedelta(days=1)
    )
    assert "goes on sale" in (await _refused(session, demo, line)).message_en
    await _update_product(
        session, demo.day_ticket_id, sale_starts_at=None, sale_ends_at=utcnow() - dt.timedelta(1)
    )
    assert "ended" in (await _refused(session, demo, line)).message_en
    await _update_product(session, demo.day_ticket_id, sale_ends_at=utcnow() + dt.timedelta(1))
    assert (await _buy(session, demo, line)).status == "pending"


async def test_closed_days_of_facility_and_product_are_refused(
    session: AsyncSession, demo: DemoFacility
) -> None:
    day = _day(4)
    await session.execute(
        sa.update(Facility)
        .where(Facility.id == demo.facility_id)
        .values(settings={"closed_weekdays": [day.weekday()]})
    )
    await session.commit()
    refusal = await _refused(session, demo, LineRequest(demo.adult_category_id, 1, day))
    assert "closed" in refusal.message_en and "休業日" in refusal.message_ja
    await session.execute(
        sa.update(Facility).where(Facility.id == demo.facility_id).values(settings={})
    )
    await _update_product(session, demo.day_ticket_id, closed_dates=[day.isoformat()])
    await _refused(session, demo, LineRequest(demo.adult_category_id, 1, day))
    next_day = day + dt.timedelta(days=1)
    assert (await _buy(session, demo, LineRequest(demo.adult_category_id, 1, next_day))).id


async def test_maximum_per_order_counts_every_category_of_a_product(
    session: AsyncSession, demo: DemoFacility
) -> None:
    day, slot = _day(), demo.timed_slots[0]
    refusal = await _refused(
        session,
        demo,
        LineRequest(demo.timed_adult_category_id, 5, day, slot),
        LineRequest(demo.timed_child_category_id, 4, day, slot),
    )
    assert "At most 8" in refusal.message_en
    assert (
        await _buy(session, demo, LineRequest(demo.timed_adult_category_id, 8, day, slot))
    ).status == "pending"


async def test_global_cap_applies_without_a_product_cap(
    session: AsyncSession, demo: DemoFacility
) -> None:
    refusal = await _refused(session, demo, LineRequest(demo.adult_category_id, 51, _day()))
    assert "At most 50" in refusal.message_en


async def test_each_time_slot_has_its_own_capacity(
    session: AsyncSession, demo: DemoFacility
) -> None:
    day, first, second = _day(), demo.timed_slots[0], demo.timed_slots[1]
    for _ in range(5):  # the demo slot holds 40; 8 per order
        await _buy(session, demo, LineRequest(demo.timed_adult_category_id, 8, day, first))
    with pytest.raises(SoldOut):
        await _buy(session, demo, LineRequest(demo.timed_adult_category_id, 1, day, first))
    await _buy(session, demo, LineRequest(demo.timed_adult_category_id, 8, day, second))
    rows = dict(
        (
            await session.execute(
                sa.select(Capacity.slot, Capacity.held).where(
                    Capacity.product_id == demo.timed_ticket_id
                )
            )
        ).all()
    )
    assert rows == {first: 40, second: 8}


async def test_timed_admission_needs_one_of_its_slots(
    session: AsyncSession, demo: DemoFacility
) -> None:
    day = _day()
    missing = await _refused(session, demo, LineRequest(demo.timed_adult_category_id, 1, day))
    assert "time slot" in missing.message_en
    await _refused(session, demo, LineRequest(demo.timed_adult_category_id, 1, day, "23:59"))
    # A whole-day product takes no slot.
    await _refused(session, demo, LineRequest(demo.adult_category_id, 1, day, "10:00"))


async def test_addon_is_sold_only_with_a_main_product(
    session: AsyncSession, demo: DemoFacility
) -> None:
    day = _day()
    refusal = await _refused(session, demo, LineRequest(demo.parking_category_id, 1, day))
    assert "together with" in refusal.message_en
    # Parking goes with day and timed tickets, not with the coupon book.
    await _refused(
        session,
        demo,
        LineRequest(demo.parking_category_id, 1, day),
        LineRequest(demo.coupon_category_id, 1, day),
    )
    order = await _buy(
        session,
        demo,
        LineRequest(demo.timed_adult_category_id, 2, day, demo.timed_slots[0]),
        LineRequest(demo.parking_category_id, 1, day),
    )
    parking = next(line for line in order.lines if line.product_id == demo.parking_id)
    # The separate handling fee is in the total but kept apart on the line.
    assert (parking.unit_price, parking.handling_fee, parking.line_total) == (1000, 100, 1100)
    assert order.total == 2 * 1500 + 1100


async def test_pass_needs_one_holder_per_pass(session: AsyncSession, demo: DemoFacility) -> None:
    holder = Holder("山田花子", dt.date(1990, 4, 1))
    refusal = await _refused(
        session, demo, LineRequest(demo.pass_adult_category_id, 2, None, "", (holder,))
    )
    assert "holder" in refusal.message_en
    await _refused(
        session,
        demo,
        LineRequest(
            demo.pass_adult_category_id, 1, None, "", (Holder("x", dt.date(1990, 1, 1), b"GIF89a"),)
        ),
    )


async def test_pass_holders_are_recorded_on_the_issued_tickets(
    session: AsyncSession, demo: DemoFacility
) -> None:
    holders = (
        Holder("山田花子", dt.date(1990, 4, 1), PNG, "image/png"),
        Holder("Ken Yamada", dt.date(1988, 1, 2)),
    )
    order = await _buy(
        session, demo, LineRequest(demo.pass_adult_category_id, 2, None, "", holders)
    )
    tenant = await _tenant(session, demo)
    payment = await create_payment(session, tenant, order, "demo", "card")
    paid, newly = await confirm_payment(session, tenant, payment.id, "ref")
    assert newly and paid.status == "paid"
    tickets = (
        await session.scalars(
            sa.select(Ticket).where(Ticket.order_id == order.id).order_by(Ticket.id)
        )
    ).all()
    assert [t.holder_name for t in tickets] == ["山田花子", "Ken Yamada"]
    today = facility_today("Asia/Tokyo")
    # Valid from first use: issued from the purchase day, ending a year after a late first use.
    assert tickets[0].valid_from == today and tickets[0].valid_until > today + dt.timedelta(
        days=365
    )
    stored = (await session.scalars(sa.select(PassHolder).order_by(PassHolder.position))).all()
    assert [h.ticket_id for h in stored] == [t.id for t in tickets]
    assert stored[0].photo == PNG and stored[1].photo is None


async def test_calendar_reads_capacity_once_for_the_whole_month(
    session: AsyncSession, demo: DemoFacility
) -> None:
    await _buy(
        session, demo, LineRequest(demo.timed_adult_category_id, 8, _day(), demo.timed_slots[0])
    )
    tenant = await _tenant(session, demo)
    product = await session.get(Product, demo.timed_ticket_id)
    assert product is not None
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = session.bind.sync_engine  # type: ignore[union-attr]
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        dates = [_day(0) + dt.timedelta(days=i) for i in range(31)]
        calendar = await availability(session, tenant, product, dates)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len([s for s in statements if "capacity" in s]) == 1
    day = next(d for d in calendar if d.date == _day())
    assert [(s.slot, s.remaining) for s in day.slots][:2] == [("10:00", 32), ("11:30", 40)]
    assert day.remaining == 32 + 3 * 40 and day.marker is not None


async def test_late_payment_reacquires_free_places(
    session: AsyncSession, demo: DemoFacility
) -> None:
    day = _day()
    order = await _buy(session, demo, LineRequest(demo.adult_category_id, 2, day))
    tenant = await _tenant(session, demo)
    payment = await create_payment(session, tenant, order, "demo", "card")
    assert await expire_holds(session, utcnow() + dt.timedelta(minutes=16)) == 1
    paid, newly = await confirm_payment(session, tenant, payment.id, "late")
    assert newly and paid.status == "paid" and len(paid.tickets) == 2
    row = (
        await session.execute(sa.select(Capacity.sold, Capacity.held).where(Capacity.date == day))
    ).one()
    assert tuple(row) == (2, 0)
    await session.refresh(payment)
    assert payment.state == PaymentState.PAID and payment.data == {}
    # Re-acquired is read from the recorded transition, not from a flag.
    assert await payment_outcome(session, tenant, paid) == "reacquired"


async def test_late_payment_for_sold_out_places_is_owed_back(
    session: AsyncSession, demo: DemoFacility
) -> None:
    day, slot = _day(), demo.timed_slots[2]
    order = await _buy(session, demo, LineRequest(demo.timed_adult_category_id, 8, day, slot))
    tenant = await _tenant(session, demo)
    payment = await create_payment(session, tenant, order, "demo", "card")
    await expire_holds(session, utcnow() + dt.timedelta(minutes=16))
    for _ in range(5):
        await _buy(session, demo, LineRequest(demo.timed_adult_category_id, 8, day, slot))
    late, newly = await confirm_payment(session, tenant, payment.id, "late")
    assert not newly and late.status == OrderStatus.EXPIRED and late.tickets == []
    await session.refresh(payment)
    assert payment.state == PaymentState.REFUND_DUE and payment.data == {}
    cause = await payment_states.refund_due_cause(session, tenant.id, payment.id)
    assert cause == payment_states.RefundDueCause.SOLD_OUT
    assert await payment_outcome(session, tenant, late) == "refund"
    sold = await session.scalar(
        sa.select(Capacity.sold + Capacity.held).where(Capacity.slot == slot)
    )
    assert sold == 40  # the failed re-acquisition gave back nothing it did not take
