"""The workbench's webhooks page: endpoints and the delivery log as the real core answers
them (over its staff API, never the database), newest first, a page at a time, with the
last answer of a failing endpoint; in Japanese and English."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from core_service.platform.settings import Settings
from kippu_contract.webhooks import ORDER_PAID
from tests.conftest import seed_demo
from tests.support.webhooks import Receiver, deliver, delivery_settings, running_receiver
from tests.support.workbench import core_api, rendered_text
from workbench.core_client import CoreAPI, StaffIdentity
from workbench.views_webhooks import WebhooksPage
from workbench.webhooks import WebhooksState


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


def _sell(core: CoreAPI, kiosk_token: str, category_id: int) -> str:
    """One kiosk sale through the same in-process core; its order code."""
    response = core.http.post(
        "/api/v1/kiosk/orders",
        json={
            "lines": [{"price_category_id": category_id, "quantity": 1}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "card", "reference": "t", "amount": 2000},
        },
        headers={"Authorization": f"Bearer {kiosk_token}", "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    code: str = response.json()["order"]["code"]
    return code


def test_the_page_shows_endpoints_and_the_latest_deliveries_from_the_core(
    sqlite_settings: Settings, receiver: Receiver
) -> None:
    demo = asyncio.run(seed_demo(sqlite_settings))
    with core_api(sqlite_settings, "manager") as core:
        created = core.http.post(
            "/api/v1/webhooks/endpoints",
            json={"url": receiver.url, "events": [ORDER_PAID], "description": "ERP"},
            headers=core._headers,
        )
        assert created.status_code == 201, created.text
        receiver.secrets.append(created.json()["secret"])
        receiver.script = [500]
        _sell(core, demo.kiosk_token, demo.adult_category_id)
        _sell(core, demo.kiosk_token, demo.adult_category_id)
        assert asyncio.run(deliver(delivery_settings(sqlite_settings))) == 0
        state = WebhooksState(core, page_size=1)
        assert state.message == ""
        assert state.endpoints.to_dict("records") == [
            {
                "id": created.json()["endpoint"]["id"],
                "url": receiver.url,
                "events": ORDER_PAID,
                "active": True,
                "description": "ERP",
            }
        ]
        newest = state.deliveries.iloc[0]
        assert (newest["event"], newest["status"], newest["attempts"]) == (ORDER_PAID, "pending", 0)
        state.older()
        failed = state.deliveries.iloc[0]
        assert (failed["status"], failed["attempts"], failed["last_code"]) == ("pending", 1, 500)
        assert failed["last_error"] == "HTTP 500" and failed["url"] == receiver.url
        assert state.next_before is None  # the oldest page
        identity = StaffIdentity(
            "t", "manager", "m@p", demo.facility_id, demo.slug, "パーク", "Park"
        )
        english = rendered_text(WebhooksPage(state=state, identity=identity, lang="en"))
        assert "Recent deliveries" in english and "Last status code" in english
        assert "HTTP 500" in english and receiver.url in english and ORDER_PAID in english
        japanese = rendered_text(WebhooksPage(state=state, identity=identity, lang="ja"))
        assert "最近の送信" in japanese and "送信先" in japanese and "HTTP 500" in japanese
        state.newest()
        assert state.deliveries.iloc[0]["attempts"] == 0


def test_a_role_the_core_refuses_sees_its_message_and_no_log(sqlite_settings: Settings) -> None:
    asyncio.run(seed_demo(sqlite_settings))
    with core_api(sqlite_settings, "staff") as core:
        state = WebhooksState(core)
    assert state.deliveries is None and state.endpoints is None
    assert state.message.startswith("403")
