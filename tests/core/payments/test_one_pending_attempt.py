"""One pending payment attempt per order, held by the database.

A double click on "pay" sends two requests at once; each used to find no attempt and
create one, leaving two payable attempts (two konbini slips, two PaymentIntents) for one
checkout. A partial unique index (migration 0012) now refuses the second pending row, and
the request that loses the race continues the attempt the other one opened.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.models import Order, Payment
from core_service.payments.transitions import create_payment
from core_service.platform.csrf import FORM_FIELD
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from core_service.platform.tenancy import load_tenant
from kippu_contract.states import PaymentState
from tests.conftest import seed_demo
from tests.support.csrf import fetch_token
from tests.support.live_server import serve
from tests.support.payments import HOST, pending_orders
from tests.support.web import query, run_in_session

TRIALS = 12


async def click_pay(
    client: httpx.AsyncClient, demo: DemoFacility, code: str, key: str, csrf: str
) -> str:
    response = await client.post(
        f"/shop/{demo.slug}/orders/{code}/pay",
        data={"key": key, "payment": "demo:card", FORM_FIELD: csrf},
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


@pytest.mark.postgres
async def test_a_double_click_on_pay_opens_one_attempt_and_both_get_it(
    postgres_settings: Settings,
) -> None:
    demo = await seed_demo(postgres_settings)
    orders = await pending_orders(postgres_settings, demo, TRIALS)
    with serve(create_app(postgres_settings, background=False)) as url:
        # Two clients of a real server, each on its own connections, one request each at once.
        async with httpx.AsyncClient(base_url=url) as one, httpx.AsyncClient(base_url=url) as two:
            # Each visitor's browser has the order page open: its form's CSRF token.
            page = f"/shop/{demo.slug}/orders/{orders[0].order_code}?key={orders[0].access_key}"
            csrf_one, csrf_two = [await fetch_token(c, page) for c in (one, two)]
            for order in orders:
                first, second = await asyncio.gather(
                    click_pay(one, demo, order.order_code, order.access_key, csrf_one),
                    click_pay(two, demo, order.order_code, order.access_key, csrf_two),
                )
                assert first == second, order.order_code  # the same attempt's payment page
    attempts = await query(
        postgres_settings,
        sa.select(Order.code, sa.func.count(Payment.id))
        .join(Payment, Payment.order_id == Order.id)
        .where(Payment.state == PaymentState.PENDING)
        .group_by(Order.code),
    )
    assert sorted(attempts) == sorted((order.order_code, 1) for order in orders)
    total = await query(postgres_settings, sa.select(sa.func.count()).select_from(Payment))
    assert total[0][0] == TRIALS


async def open_attempt(settings: Settings, demo: DemoFacility, code: str, method: str) -> int:
    """A new pending attempt for the order, through ``create_payment``; its id."""
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
            order = await session.scalar(sa.select(Order).where(Order.code == code))
            assert order is not None
            return (await create_payment(session, tenant, order, "demo", method)).id
    finally:
        await engine.dispose()


async def test_the_database_refuses_a_second_pending_attempt(
    db_settings: Settings, demo: DemoFacility
) -> None:
    (order,) = await pending_orders(db_settings, demo, 1)
    first = await open_attempt(db_settings, demo, order.order_code, "card")
    with pytest.raises(IntegrityError):
        await open_attempt(db_settings, demo, order.order_code, "konbini")

    async def fail_first(session: AsyncSession) -> None:
        await session.execute(
            sa.update(Payment).where(Payment.id == first).values(state=PaymentState.FAILED)
        )
        await session.commit()

    await run_in_session(db_settings, fail_first)
    # Once the first is decided, another attempt may be opened.
    assert await open_attempt(db_settings, demo, order.order_code, "konbini") != first
