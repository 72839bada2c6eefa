"""A kiosk's retry racing its first request for the last place gets the same order.

The kiosk driver sends a sale again with the same Idempotency-Key when the first answer
is slow. If both requests arrive together when one place is left, one takes the place;
the other used to be refused as sold out (409), and on a 409 the kiosk voids the terminal
payment: a paid order with tickets and no money. Both must answer with the same order,
on the one-statement sale (one capacity row) and on the receipt path (several products).
Real concurrency: a served app, two clients at once, on PostgreSQL, many trials.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.models import Capacity, Order, Ticket
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.live_server import serve
from tests.support.web import query

TRIALS = 15

#: Kiosk order lines: one capacity row (the one-statement sale) or a day ticket with a
#: coupon book (two products: the places are taken with a receipt first).
BASKETS = {
    "one statement": lambda demo: ([(demo.adult_category_id, 1)], 2000),
    "receipt path": lambda demo: (
        [(demo.adult_category_id, 1), (demo.coupon_category_id, 1)],
        5000,
    ),
}


def _body(lines: list[tuple[int, int]], amount: int) -> dict[str, Any]:
    return {
        "lines": [{"price_category_id": c, "quantity": q} for c, q in lines],
        "answers": {"consent_waiver": True},
        "payment": {"method": "card", "reference": "term-1", "amount": amount},
        "locale": "ja",
    }


async def _leave_one_place(settings: Settings, demo: DemoFacility) -> None:
    engine = sa.ext.asyncio.create_async_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.update(Capacity)
                .where(Capacity.product_id == demo.day_ticket_id)
                .values(capacity=Capacity.sold + Capacity.held + 1)
            )
    finally:
        await engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("basket", list(BASKETS))
async def test_two_requests_with_one_key_for_the_last_place_get_the_same_order(
    postgres_settings: Settings, basket: str
) -> None:
    demo = await seed_demo(postgres_settings)
    lines, amount = BASKETS[basket](demo)
    headers = {"Authorization": f"Bearer {demo.kiosk_token}"}
    with serve(create_app(postgres_settings, background=False)) as url:
        async with (
            httpx.AsyncClient(base_url=url, headers=headers) as first,
            httpx.AsyncClient(base_url=url, headers=headers) as retry,
        ):

            async def sell(client: httpx.AsyncClient, key: str) -> httpx.Response:
                return await client.post(
                    "/api/v1/kiosk/orders",
                    json=_body(lines, amount),
                    headers={"Idempotency-Key": key},
                )

            warm_up = await sell(first, str(uuid.uuid4()))  # the capacity row exists now
            assert warm_up.status_code == 201, warm_up.text
            answers = []
            for _ in range(TRIALS):
                await _leave_one_place(postgres_settings, demo)
                key = str(uuid.uuid4())
                one, two = await asyncio.gather(sell(first, key), sell(retry, key))
                answers.append((one.status_code, two.status_code))
                assert sorted((one.status_code, two.status_code)) == [200, 201], (
                    one.text,
                    two.text,
                )
                assert one.json()["order"]["code"] == two.json()["order"]["code"]
                assert [t["id"] for t in one.json()["tickets"]] == [
                    t["id"] for t in two.json()["tickets"]
                ]
    orders = await query(postgres_settings, sa.select(sa.func.count()).select_from(Order))
    tickets = await query(postgres_settings, sa.select(sa.func.count()).select_from(Ticket))
    assert orders[0][0] == TRIALS + 1
    assert tickets[0][0] == (TRIALS + 1) * len(lines)
