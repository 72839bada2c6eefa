"""Vouchers at order placement: the discounted lines and totals, the refusals that write
nothing, uses counted atomically (one winner of the last use on PostgreSQL), and uses
given back when an unpaid order expires or its order is not written."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from core_service.demo.data import DemoFacility
from core_service.models import Capacity, Order, OrderLine, Voucher
from core_service.orders.expiry import expire_holds
from core_service.orders.placement import place_order
from core_service.orders.requests import CheckoutRequest, ImmediatePayment, LineRequest
from core_service.payments.transitions import confirm_payment, create_payment
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.errors import Conflict, KippuError, SoldOut
from core_service.platform.settings import Settings
from core_service.platform.tenancy import load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager
from core_service.vouchers.uses import (
    VoucherNotApplicable,
    VoucherNotValid,
    VoucherUnknown,
    VoucherUsedUp,
)
from tests.conftest import seed_demo
from tests.support.vouchers import add_voucher

HOST = PluginHost(build_plugin_manager())
DAY = dt.date.today() + dt.timedelta(days=3)


def _checkout(
    demo: DemoFacility,
    code: str,
    *,
    adults: int = 2,
    children: int = 1,
    key: str | None = None,
    paid: int | None = None,
) -> CheckoutRequest:
    lines = [LineRequest(demo.adult_category_id, adults, DAY)]
    if children:
        lines.append(LineRequest(demo.child_category_id, children, DAY))
    return CheckoutRequest(
        channel="web" if paid is None else "kiosk",
        lines=lines,
        answers={"consent_waiver": True},
        customer_email="visitor@example.com",
        idempotency_key=key,
        voucher_code=code,
        payment=None if paid is None else ImmediatePayment("kiosk_terminal", "qr", "r", paid),
    )


async def _uses(session, voucher_id: int) -> int:
    return await session.scalar(
        sa.select(Voucher.uses)
        .where(Voucher.id == voucher_id)
        .execution_options(populate_existing=True)
    )


async def _place(settings: Settings, demo: DemoFacility, request: CheckoutRequest) -> Order:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
            order, _ = await place_order(session, tenant, request, hold_minutes=15)
            return order
    finally:
        await engine.dispose()


async def test_percent_voucher_discounts_each_line_and_the_total(
    db_settings: Settings, demo: DemoFacility
) -> None:
    """15% off 2 adults (4,000) and 1 child (1,000): 600 + 150 off, typed in lower case."""
    voucher_id = await add_voucher(db_settings, demo.facility_id)
    order = await _place(db_settings, demo, _checkout(demo, " spring "))
    assert (order.total, order.discount, order.voucher_code) == (4250, 750, "SPRING")
    assert [(line.discount, line.line_total) for line in order.lines] == [(600, 3400), (150, 850)]
    engine = make_engine(db_settings)
    async with make_sessionmaker(engine)() as session:
        assert await _uses(session, voucher_id) == 1
        stored = await session.scalar(sa.select(Order).where(Order.id == order.id))
        assert (stored.total, stored.voucher_id, stored.discount) == (4250, voucher_id, 750)
    await engine.dispose()


async def test_fixed_voucher_for_one_product_spares_the_others(
    db_settings: Settings, demo: DemoFacility
) -> None:
    await add_voucher(
        db_settings,
        demo.facility_id,
        code="KIDS500",
        kind="fixed",
        value=500,
        product_ids=[demo.day_ticket_id],
    )
    order = await _place(db_settings, demo, _checkout(demo, "kids500", adults=1, children=0))
    assert (order.total, order.discount) == (1500, 500)


async def test_a_paid_kiosk_sale_must_pay_the_discounted_total(
    db_settings: Settings, demo: DemoFacility
) -> None:
    await add_voucher(db_settings, demo.facility_id)
    with pytest.raises(Conflict):
        await _place(db_settings, demo, _checkout(demo, "SPRING", paid=5000))
    order = await _place(db_settings, demo, _checkout(demo, "SPRING", paid=4250))
    assert (order.status, order.total, len(order.tickets)) == ("paid", 4250, 3)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"code": "OTHER"}, VoucherUnknown),
        ({"active": False}, VoucherNotValid),
        ({"valid_until": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)}, VoucherNotValid),
        ({"valid_from": dt.datetime.now(dt.UTC) + dt.timedelta(days=1)}, VoucherNotValid),
        ({"max_uses": 1, "uses": 1}, VoucherUsedUp),
        ({"product_ids": [2_000_000_000]}, VoucherNotApplicable),
    ],
)
async def test_refused_codes_write_nothing(
    db_settings: Settings, demo: DemoFacility, fields: dict, error: type[KippuError]
) -> None:
    voucher_id = await add_voucher(db_settings, demo.facility_id, **fields)
    with pytest.raises(error) as refused:
        await _place(db_settings, demo, _checkout(demo, "spring"))
    assert refused.value.message_ja and refused.value.message_en
    engine = make_engine(db_settings)
    async with make_sessionmaker(engine)() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0
        assert await session.scalar(sa.select(sa.func.count()).select_from(Capacity)) in (0, 1)
        assert await session.scalar(sa.select(sa.func.sum(Capacity.held))) in (None, 0)
        assert await _uses(session, voucher_id) == fields.get("uses", 0)
    await engine.dispose()


async def test_another_facilitys_code_is_unknown_here(
    db_settings: Settings, demo: DemoFacility
) -> None:
    other = await seed_demo(db_settings, slug="other-park", name_ja="別の公園", name_en="Other")
    await add_voucher(db_settings, other.facility_id)
    with pytest.raises(VoucherUnknown):
        await _place(db_settings, demo, _checkout(demo, "SPRING"))


async def test_a_sale_refused_after_the_use_was_taken_gives_it_back(db_settings: Settings) -> None:
    """Sold out after the voucher's use was taken: the use is free again."""
    demo = await seed_demo(db_settings, daily_capacity=2)
    voucher_id = await add_voucher(db_settings, demo.facility_id, max_uses=1)
    with pytest.raises(SoldOut):
        await _place(db_settings, demo, _checkout(demo, "SPRING", adults=3, children=0))
    order = await _place(db_settings, demo, _checkout(demo, "SPRING", adults=2, children=0))
    assert order.discount == 600
    engine = make_engine(db_settings)
    async with make_sessionmaker(engine)() as session:
        assert await _uses(session, voucher_id) == 1
    await engine.dispose()


async def test_a_replayed_checkout_uses_the_voucher_once(
    db_settings: Settings, demo: DemoFacility
) -> None:
    voucher_id = await add_voucher(db_settings, demo.facility_id, max_uses=1)
    first = await _place(db_settings, demo, _checkout(demo, "SPRING", key="k-1"))
    again = await _place(db_settings, demo, _checkout(demo, "SPRING", key="k-1"))
    assert again.id == first.id
    engine = make_engine(db_settings)
    async with make_sessionmaker(engine)() as session:
        assert await _uses(session, voucher_id) == 1
    await engine.dispose()


async def test_an_expired_unpaid_order_gives_its_use_back_and_a_late_payment_retakes_it(
    db_settings: Settings, demo: DemoFacility
) -> None:
    voucher_id = await add_voucher(db_settings, demo.facility_id, max_uses=1)
    engine = make_engine(db_settings)
    async with make_sessionmaker(engine)() as session:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        order, _ = await place_order(session, tenant, _checkout(demo, "SPRING"), hold_minutes=15)
        payment = await create_payment(session, tenant, order, "demo", "card")
        assert payment.amount == 4250
        assert await _uses(session, voucher_id) == 1
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
        assert await expire_holds(session, later) == 1
        assert await _uses(session, voucher_id) == 0
        paid, _ = await confirm_payment(session, tenant, payment.id, "late-ref")
        assert paid.status == "paid"
        assert await _uses(session, voucher_id) == 1
    await engine.dispose()


async def test_tax_is_computed_per_rate_on_the_discounted_amounts(
    db_settings: Settings, demo: DemoFacility
) -> None:
    """Child tickets at 8% for this test: each rate's tax is on its discounted total."""
    from core_service.models import Product
    from core_service.orders.presenters import order_out

    await add_voucher(db_settings, demo.facility_id, kind="fixed", value=4500)
    engine = make_engine(db_settings)
    async with make_sessionmaker(engine)() as session:
        product = await session.get(Product, demo.coupon_book_id)
        product.tax_rate = 8
        await session.commit()
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        request = CheckoutRequest(
            channel="web",
            lines=[
                LineRequest(demo.adult_category_id, 2, DAY),
                LineRequest(demo.coupon_category_id, 1),
            ],
            answers={"consent_waiver": True},
            voucher_code="SPRING",
        )
        order, _ = await place_order(session, tenant, request, hold_minutes=15)
        out = await order_out(session, order)
    await engine.dispose()
    # 4,500 off: the 4,000 yen adult line becomes 0, the 3,000 yen book 2,500.
    assert [line.line_total for line in out.lines] == [0, 2500]
    assert [(t.rate, t.total, t.tax) for t in out.tax_summary] == [(10, 0, 0), (8, 2500, 185)]


@pytest.mark.postgres
async def test_racing_buyers_of_the_last_use_get_one_success(postgres_settings: Settings) -> None:
    """24 buyers race for a code with 3 uses left on PostgreSQL: 3 orders carry it."""
    demo = await seed_demo(postgres_settings)
    voucher_id = await add_voucher(postgres_settings, demo.facility_id, max_uses=3)
    # One sale without the code first creates the day's capacity row: buyers racing to
    # create it can be refused as sold out (catalog.reservations, a separate matter).
    await _place(postgres_settings, demo, _checkout(demo, "", paid=5000))
    engine = make_engine(postgres_settings, pool_size=12, max_overflow=0)
    sessionmaker = make_sessionmaker(engine)

    async def buyer(i: int) -> bool:
        async with sessionmaker() as session:
            tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
            try:
                await place_order(
                    session,
                    tenant,
                    _checkout(demo, "SPRING", key=f"buyer-{i}", paid=4250),
                    hold_minutes=15,
                )
            except VoucherUsedUp:
                return False
            return True

    outcomes = await asyncio.gather(*(buyer(i) for i in range(24)))
    async with sessionmaker() as session:
        assert sum(outcomes) == 3
        assert await _uses(session, voucher_id) == 3
        with_code = sa.select(sa.func.count()).where(Order.voucher_id == voucher_id)
        assert await session.scalar(with_code) == 3
        assert await session.scalar(sa.select(sa.func.count()).select_from(Order)) == 1 + 3
        discounted = sa.select(sa.func.sum(OrderLine.discount))
        assert await session.scalar(discounted) == 3 * 750
    await engine.dispose()
