"""The staff API of webhook endpoints: managers and owners only, each facility its own,
http(s) URLs only, the secret shown at creation and rotation and never again; every
change of an endpoint moves the facility's config_version (the trigger of 0012)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.models import AuditLog, Facility, WebhookEndpoint
from core_service.platform.settings import Settings
from core_service.webhooks.endpoints import secret_cipher
from kippu_contract.roles import ROLES, role_at_least
from kippu_contract.webhooks import EVENT_TYPES, ORDER_PAID, TICKET_REDEEMED
from tests.conftest import seed_demo
from tests.support.aftersales import staff_headers
from tests.support.web import query
from tests.support.webhooks import add_endpoint

ENDPOINTS = "/api/v1/webhooks/endpoints"
URL = "https://erp.example/hooks/kippu"


async def _version(settings: Settings, facility_id: int) -> int:
    rows = await query(
        settings, sa.select(Facility.config_version).where(Facility.id == facility_id)
    )
    return int(rows[0][0])


async def test_a_manager_creates_an_endpoint_and_sees_its_secret_once(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    headers = await staff_headers(client, demo, "manager")
    created = await client.post(
        ENDPOINTS,
        json={
            "url": URL,
            "events": [TICKET_REDEEMED, ORDER_PAID, ORDER_PAID],
            "description": "ERP",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    # Each event once, in the documented order.
    assert body["endpoint"]["events"] == [ORDER_PAID, TICKET_REDEEMED]
    listed = await client.get(ENDPOINTS, headers=headers)
    assert listed.status_code == 200
    assert [e["url"] for e in listed.json()] == [URL]
    assert secret not in listed.text and "secret" not in listed.json()[0]
    stored = (await query(db_settings, sa.select(WebhookEndpoint.secret_encrypted)))[0][0]
    assert secret not in stored  # encrypted at rest
    assert secret_cipher(db_settings.secret_key).decrypt(stored.encode()).decode() == secret


async def test_changes_rotation_and_deletion_are_audited(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    headers = await staff_headers(client, demo, "owner")
    endpoint_id, secret = await add_endpoint(client, demo, URL, role="owner")
    changed = await client.patch(
        f"{ENDPOINTS}/{endpoint_id}",
        json={"active": False, "events": [ORDER_PAID], "url": " https://erp.example/v2 "},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["active"], changed.json()["events"]) == (False, [ORDER_PAID])
    assert changed.json()["url"] == "https://erp.example/v2"
    rotated = await client.post(f"{ENDPOINTS}/{endpoint_id}/rotate-secret", headers=headers)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] != secret and rotated.json()["secret"].startswith("whsec_")
    deleted = await client.delete(f"{ENDPOINTS}/{endpoint_id}", headers=headers)
    assert deleted.status_code == 204
    assert (await client.get(ENDPOINTS, headers=headers)).json() == []
    actions = await query(
        db_settings, sa.select(AuditLog.action).where(AuditLog.action.like("webhook.%"))
    )
    assert [a for (a,) in actions] == [
        "webhook.created",
        "webhook.changed",
        "webhook.secret_rotated",
        "webhook.deleted",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://erp.example/hooks",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "erp.example/hooks",
        "https://",
        "http:///no-host",
        "https://erp.example/" + "x" * 2000,
    ],
)
async def test_urls_that_are_not_http_are_refused_with_a_clear_error(
    client: AsyncTestClient[Any], demo: DemoFacility, url: str
) -> None:
    headers = {**await staff_headers(client, demo, "manager"), "Accept-Language": "en"}
    response = await client.post(
        ENDPOINTS, json={"url": url, "events": [ORDER_PAID]}, headers=headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_webhook_url"
    assert "http:// or https://" in response.json()["detail"]
    endpoint_id, _ = await add_endpoint(client, demo, URL)
    changed = await client.patch(f"{ENDPOINTS}/{endpoint_id}", json={"url": url}, headers=headers)
    assert (changed.status_code, changed.json()["code"]) == (422, "invalid_webhook_url")


async def test_unknown_or_no_events_are_refused(
    client: AsyncTestClient[Any], demo: DemoFacility
) -> None:
    headers = {**await staff_headers(client, demo, "manager"), "Accept-Language": "en"}
    for events in (["order.shipped"], []):
        response = await client.post(
            ENDPOINTS, json={"url": URL, "events": events}, headers=headers
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "unknown_webhook_event"
        assert ORDER_PAID in response.json()["detail"]


@pytest.mark.parametrize("role", ROLES)
async def test_only_managers_and_owners_may_use_the_webhook_api(
    client: AsyncTestClient[Any], demo: DemoFacility, role: str
) -> None:
    endpoint_id, _ = await add_endpoint(client, demo, URL)
    headers = await staff_headers(client, demo, role)
    calls = [
        ("GET", ENDPOINTS, None),
        ("POST", ENDPOINTS, {"url": URL, "events": [ORDER_PAID]}),
        ("PATCH", f"{ENDPOINTS}/{endpoint_id}", {"active": True}),
        ("POST", f"{ENDPOINTS}/{endpoint_id}/rotate-secret", None),
        ("GET", "/api/v1/webhooks/deliveries", None),
        ("DELETE", f"{ENDPOINTS}/{endpoint_id}", None),
    ]
    for method, path, body in calls:
        answer = await client.request(method, path, json=body, headers=headers)
        anonymous = await client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
        if role_at_least(role, "manager"):
            assert answer.status_code in (200, 201, 204), (method, path, answer.text)
        else:
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["detail"]


async def test_a_facility_never_sees_or_changes_another_facilitys_endpoints(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    other = await seed_demo(db_settings, slug="other-park")
    endpoint_id, _ = await add_endpoint(client, demo, URL)
    headers = await staff_headers(client, other, "owner")
    assert (await client.get(ENDPOINTS, headers=headers)).json() == []
    for method, path, body in [
        ("PATCH", f"{ENDPOINTS}/{endpoint_id}", {"active": False}),
        ("POST", f"{ENDPOINTS}/{endpoint_id}/rotate-secret", None),
        ("DELETE", f"{ENDPOINTS}/{endpoint_id}", None),
    ]:
        answer = await client.request(method, path, json=body, headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found"), (method, path)
    mine = await client.get(ENDPOINTS, headers=await staff_headers(client, demo, "manager"))
    assert [(e["id"], e["active"]) for e in mine.json()] == [(endpoint_id, True)]


async def test_every_change_of_an_endpoint_moves_the_facility_version(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    """The tenant cache's validator: insert, update and delete, on both databases."""
    headers = await staff_headers(client, demo, "manager")
    before = await _version(db_settings, demo.facility_id)
    endpoint_id, _ = await add_endpoint(client, demo, URL, EVENT_TYPES)
    after_insert = await _version(db_settings, demo.facility_id)
    assert after_insert > before
    await client.patch(f"{ENDPOINTS}/{endpoint_id}", json={"active": False}, headers=headers)
    after_update = await _version(db_settings, demo.facility_id)
    assert after_update > after_insert
    await client.delete(f"{ENDPOINTS}/{endpoint_id}", headers=headers)
    assert await _version(db_settings, demo.facility_id) > after_update
