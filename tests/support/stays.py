"""Time stays in tests: a stay product in the demo facility, and moving a stay's clock.

Tests move time by moving the stored instants back (the entry, a payment), so the core's
own clock runs unchanged."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.demo.data import DemoFacility
from core_service.models import Order, PriceCategory, Product, StayVisit
from core_service.platform.settings import Settings
from tests.support.web import run_in_session

STAY_CODE = "kids-room"


async def add_stay_product(
    settings: Settings, demo: DemoFacility, *, base_price: int = 0, daily_cap: int = 2000
) -> int:
    """A kids' room at ¥500 per 30 minutes started, capped per day; its category's id."""

    async def work(session: AsyncSession) -> int:
        product = Product(
            facility_id=demo.facility_id,
            code=STAY_CODE,
            kind="time_stay",
            name_ja="キッズルーム",
            name_en="Kids' room",
            tax_rate=10,
            requires_date=False,
            daily_capacity=None,
            stay_unit_minutes=30,
            stay_unit_price=500,
            stay_daily_cap=daily_cap,
        )
        product.price_categories = [
            PriceCategory(
                facility_id=demo.facility_id,
                code="any",
                name_ja="入室",
                name_en="Entry",
                price=base_price,
            )
        ]
        session.add(product)
        await session.commit()
        return product.price_categories[0].id

    result: int = await run_in_session(settings, work)
    return result


async def buy_stay_at_kiosk(
    client: AsyncTestClient[Any], kiosk_headers: dict[str, str], category_id: int, price: int = 0
) -> str:
    """The QR token of a stay ticket sold at the kiosk."""
    response = await client.post(
        "/api/v1/kiosk/orders",
        json={
            "lines": [{"price_category_id": category_id, "quantity": 1}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "card", "reference": "term-stay", "amount": price},
        },
        headers={**kiosk_headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["tickets"][0]["qr_token"]
    return token


async def move_back(settings: Settings, *, entry: dt.timedelta, payments: dt.timedelta) -> None:
    """Move every stay's entry back by ``entry`` and every stay charge's payment by
    ``payments``: as if that much time had passed since."""

    async def work(session: AsyncSession) -> None:
        # Read and written back in Python: SQLite cannot subtract from a stored instant.
        for visit in await session.scalars(sa.select(StayVisit)):
            visit.entered_at -= entry
        charges = await session.scalars(
            sa.select(Order).where(Order.idempotency_key.like("stay:%"), Order.paid_at.is_not(None))
        )
        for order in charges:
            assert order.paid_at is not None
            order.paid_at -= payments
        await session.commit()

    await run_in_session(settings, work)
