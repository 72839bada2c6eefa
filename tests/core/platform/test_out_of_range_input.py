"""Input no database column can hold is a 422 ``invalid_input`` that saves nothing: the
findings of the API fuzzing (test_api_fuzz.py), kept as plain regression tests."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Litestar
from litestar.testing import AsyncTestClient

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.models import WebhookEndpoint
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.aftersales import staff_headers
from tests.support.web import query

BEYOND_64_BITS = 2**70


def _assert_out_of_range(response: Any, language: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_input"
    assert ("out of range" in body["detail"]) == (language == "en")
    assert ("範囲外" in body["detail"]) == (language == "ja")
    for internal in ("sqlalchemy", "OverflowError", "SELECT", "int64", "SQLite"):
        assert internal not in response.text


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/devices/{BEYOND_64_BITS}/revoke",
        f"/api/v1/webhooks/endpoints/{BEYOND_64_BITS}/rotate-secret",
    ],
)
@pytest.mark.parametrize("language", ["en", "ja"])
async def test_an_id_beyond_64_bits_is_refused_in_the_callers_language(
    client: AsyncTestClient[Litestar], demo: DemoFacility, path: str, language: str
) -> None:
    headers = {**await staff_headers(client, demo, "manager"), "Accept-Language": language}
    _assert_out_of_range(await client.post(path, headers=headers), language)


async def test_a_query_id_beyond_64_bits_is_refused(
    client: AsyncTestClient[Litestar], demo: DemoFacility
) -> None:
    headers = {**await staff_headers(client, demo, "manager"), "Accept-Language": "en"}
    response = await client.get(
        "/api/v1/webhooks/deliveries", params={"before": BEYOND_64_BITS}, headers=headers
    )
    _assert_out_of_range(response, "en")


@pytest.mark.postgres
async def test_a_nul_character_for_postgresql_text_is_refused_and_saves_nothing(
    postgres_settings: Settings,
) -> None:
    """PostgreSQL text cannot hold U+0000 (SQLite can, so there it is simply stored)."""
    demo = await seed_demo(postgres_settings)
    async with AsyncTestClient(app=create_app(postgres_settings, background=False)) as client:
        headers = {**await staff_headers(client, demo, "manager"), "Accept-Language": "en"}
        response = await client.post(
            "/api/v1/webhooks/endpoints",
            json={
                "url": "https://x.example/hook",
                "events": ["order.paid"],
                "description": "a\x00b",
            },
            headers=headers,
        )
        _assert_out_of_range(response, "en")
        found = await client.get("/api/v1/orders/lookup", params={"q": "K00\x001"}, headers=headers)
        _assert_out_of_range(found, "en")
    assert await query(postgres_settings, sa.select(WebhookEndpoint.id)) == []
