"""Bad input gets a clear 4xx message, never a traceback, and writes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.models import Order
from core_service.platform.database import make_engine
from core_service.platform.settings import Settings


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("not json at all", 400),
        ('{"lines": "many"}', 400),
        ('{"lines": [], "payment": {"method": "card", "reference": "r", "amount": 0}}', 422),
        (
            '{"lines": [{"price_category_id": 999999, "quantity": 1}], "payment": {"method": "card", "reference": "r", "amount": 1}}',
            422,
        ),
        (
            '{"lines": [{"price_category_id": 1, "quantity": -3}], "payment": {"method": "card", "reference": "r", "amount": 1}}',
            422,
        ),
        (
            '{"lines": [{"price_category_id": 1, "quantity": 1}], "payment": {"method": "gold", "reference": "r", "amount": 1}}',
            422,
        ),
        (
            '{"lines": [{"price_category_id": 1, "quantity": 1}], "payment": {"method": "card", "reference": "r", "amount": 1}, "hack": 1}',
            400,
        ),
    ],
)
async def test_bad_kiosk_orders_get_a_clear_error_and_write_nothing(
    client: AsyncTestClient, kiosk_headers: dict, db_settings: Settings, body: str, status: int
) -> None:
    response = await client.post(
        "/api/v1/kiosk/orders",
        content=body,
        headers={
            **kiosk_headers,
            "Idempotency-Key": "bad-input-key",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["detail"] and "Traceback" not in response.text
    engine = make_engine(db_settings)
    async with engine.connect() as connection:
        assert await connection.scalar(sa.select(sa.func.count()).select_from(Order)) == 0
    await engine.dispose()


async def test_missing_idempotency_key_is_refused(
    client: AsyncTestClient, kiosk_headers: dict
) -> None:
    response = await client.post("/api/v1/kiosk/orders", json={}, headers=kiosk_headers)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.text


async def test_unknown_api_route_is_a_json_404(client: AsyncTestClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.json()["detail"]
