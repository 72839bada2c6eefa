"""``GET /api/v1/webhooks/deliveries``: the facility's own deliveries, newest first, a page
at a time, with the event, the endpoint, the state, the attempts and the last answer."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.platform.settings import Settings
from kippu_contract.v1.staff import WebhookDeliveryPageOut
from kippu_contract.webhooks import ORDER_PAID
from tests.conftest import seed_demo
from tests.support.aftersales import staff_headers
from tests.support.webhooks import Hooked, add_endpoint, kiosk_sale

LOG = "/api/v1/webhooks/deliveries"


async def _page(client: AsyncTestClient[Any], headers: dict[str, str], **params: Any) -> Any:
    response = await client.get(LOG, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=WebhookDeliveryPageOut)


async def test_the_log_pages_newest_first_with_the_last_answer(hooked: Hooked) -> None:
    client, receiver, endpoint_id = hooked.client, hooked.receiver, hooked.endpoint_id
    receiver.script = [500]
    await hooked.sales(3)
    assert await hooked.deliver(webhook_retry_seconds=60) == 0
    headers = await staff_headers(client, hooked.demo, "manager")
    first = await _page(client, headers, limit=2)
    assert len(first.deliveries) == 2 and first.next_before == first.deliveries[-1].id
    rest = await _page(client, headers, limit=2, before=first.next_before)
    assert len(rest.deliveries) == 1 and rest.next_before is None
    rows = first.deliveries + rest.deliveries
    assert [d.id for d in rows] == sorted((d.id for d in rows), reverse=True)
    oldest = rows[-1]
    assert (oldest.status, oldest.attempts, oldest.last_status_code) == ("pending", 1, 500)
    assert oldest.last_error == "HTTP 500" and oldest.last_attempt_at is not None
    assert {(d.event_type, d.endpoint_id, d.endpoint_url) for d in rows} == {
        (ORDER_PAID, endpoint_id, receiver.url)
    }
    assert [d.attempts for d in rows[:2]] == [0, 0]  # waiting behind the failed one
    failed_only = await _page(client, headers, status="pending", endpoint_id=endpoint_id)
    assert len(failed_only.deliveries) == 3
    refused = await client.get(LOG, params={"status": "lost"}, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_input")


async def test_another_facility_sees_none_of_the_deliveries(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    kiosk_headers: dict[str, str],
) -> None:
    other = await seed_demo(db_settings, slug="other-park")
    endpoint_id, _ = await add_endpoint(client, demo, "https://erp.example/hooks")
    await kiosk_sale(client, demo, kiosk_headers)
    mine = await _page(client, await staff_headers(client, demo, "manager"))
    assert len(mine.deliveries) == 1
    theirs = await staff_headers(client, other, "owner")
    assert (await _page(client, theirs)).deliveries == []
    assert (await _page(client, theirs, endpoint_id=endpoint_id)).deliveries == []
