"""The kiosk API: catalog, idempotent paid orders, sold out, auth, heartbeats."""

from __future__ import annotations

import uuid

import pytest
from litestar.testing import AsyncTestClient

from core_service.demo.data import DEMO_PASSWORD, DemoFacility, demo_staff_email
from kippu_contract.tokens import verify_token


def _order_body(demo: DemoFacility, amount: int, quantity: int = 1) -> dict:
    return {
        "lines": [{"price_category_id": demo.adult_category_id, "quantity": quantity}],
        "answers": {"consent_waiver": True},
        "payment": {"method": "card", "reference": "term-123", "amount": amount},
        "locale": "ja",
    }


async def test_catalog_lists_kiosk_products_with_consent_and_marker(
    client: AsyncTestClient, kiosk_headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/kiosk/catalog", headers=kiosk_headers)
    assert response.status_code == 200
    body = response.json()
    assert {p["code"] for p in body["products"]} == {
        "day",
        "rides10",
        "zipline",
        "annual",
        "parking",
    }
    assert body["checkout_fields"][0]["name"] == "consent_waiver"
    day = next(p for p in body["products"] if p["code"] == "day")
    assert day["marker"]["symbol"] == "〇"
    assert body["payment_methods"] == ["card", "emoney", "qr"]


async def test_kiosk_order_is_paid_with_signed_tickets(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    headers = {**kiosk_headers, "Idempotency-Key": str(uuid.uuid4())}
    response = await client.post(
        "/api/v1/kiosk/orders", json=_order_body(demo, 4000, 2), headers=headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["order"]["status"] == "paid"
    assert body["order"]["total"] == 4000
    assert body["order"]["payment_method"] == "card"
    assert body["order"]["tax_summary"] == [{"rate": 10, "total": 4000, "tax": 363}]
    key = (await client.get(f"/api/v1/facilities/{demo.slug}/public-key")).json()["public_key"]
    assert len(body["tickets"]) == 2
    for ticket in body["tickets"]:
        assert verify_token(ticket["qr_token"], key).subject_id == ticket["id"]


async def test_replayed_idempotency_key_returns_the_same_order_and_no_new_ticket(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    headers = {**kiosk_headers, "Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/api/v1/kiosk/orders", json=_order_body(demo, 2000), headers=headers)
    second = await client.post(
        "/api/v1/kiosk/orders", json=_order_body(demo, 2000), headers=headers
    )
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["order"]["code"] == second.json()["order"]["code"]
    assert [t["id"] for t in first.json()["tickets"]] == [t["id"] for t in second.json()["tickets"]]


async def test_amount_mismatch_is_refused_and_writes_nothing(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    headers = {**kiosk_headers, "Idempotency-Key": str(uuid.uuid4())}
    response = await client.post(
        "/api/v1/kiosk/orders", json=_order_body(demo, 1999), headers=headers
    )
    assert response.status_code == 409
    assert "2000" in response.json()["detail"]
    replay = await client.post(
        "/api/v1/kiosk/orders", json=_order_body(demo, 2000), headers=headers
    )
    assert replay.status_code == 201  # the key was not consumed by the refused attempt


async def test_missing_consent_is_refused_with_a_field_error(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    body = _order_body(demo, 2000) | {"answers": {}}
    headers = {**kiosk_headers, "Idempotency-Key": str(uuid.uuid4()), "Accept-Language": "en"}
    response = await client.post("/api/v1/kiosk/orders", json=body, headers=headers)
    assert response.status_code == 422
    assert "consent_waiver" in response.json()["fields"]


@pytest.mark.parametrize("token", ["", "kd_not-a-real-token"])
async def test_kiosk_api_refuses_missing_or_unknown_tokens(
    client: AsyncTestClient, token: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.get("/api/v1/kiosk/catalog", headers=headers)
    assert response.status_code == 401
    assert "traceback" not in response.text.lower()


async def test_gate_token_cannot_sell(
    client: AsyncTestClient, gate_headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/kiosk/catalog", headers=gate_headers)
    assert response.status_code == 403


async def test_heartbeat_is_recorded(
    client: AsyncTestClient, kiosk_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/kiosk/heartbeat",
        json={"printer": "ok", "paper": "near_end", "terminal": "ok", "version": "0.1.0"},
        headers=kiosk_headers,
    )
    assert response.status_code == 204


async def _staff(client: AsyncTestClient, role: str = "manager") -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login",
        json={
            "facility": "kippu-adventure-park",
            "email": demo_staff_email(role),
            "password": DEMO_PASSWORD,
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def _kiosk_device(client: AsyncTestClient, headers: dict[str, str]) -> dict:
    devices = (await client.get("/api/v1/devices/", headers=headers)).json()
    return next(d for d in devices if d["kind"] == "kiosk")


async def test_richer_heartbeat_is_listed_for_staff(
    client: AsyncTestClient, kiosk_headers: dict[str, str]
) -> None:
    beat = {
        "printer": "paper_out",
        "paper": "out",
        "terminal": "ok",
        "last_sale_at": "2026-11-25T10:00:00+00:00",
        "version": "0.2.0",
        "out_of_service": "printer: paper out",
        "unprinted": 1,
    }
    assert (
        await client.post("/api/v1/kiosk/heartbeat", json=beat, headers=kiosk_headers)
    ).status_code == 204
    device = await _kiosk_device(client, await _staff(client, "staff"))
    assert device["status"]["paper"] == "out" and device["status"]["unprinted"] == 1
    assert device["status"]["out_of_service"] == "printer: paper out"
    assert device["silent"] is False


async def test_call_staff_is_an_open_call_until_staff_close_it(
    client: AsyncTestClient, kiosk_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/kiosk/call-staff",
        json={"reason": "visitor", "detail": "help"},
        headers=kiosk_headers,
    )
    assert response.status_code == 200 and response.json()["open"] is True
    first_at = response.json()["at"]
    again = await client.post(
        "/api/v1/kiosk/call-staff", json={"reason": "visitor"}, headers=kiosk_headers
    )
    assert again.json()["at"] == first_at  # one open call, not a pile of them
    await client.post("/api/v1/kiosk/heartbeat", json={"printer": "ok"}, headers=kiosk_headers)
    staff = await _staff(client, "staff")
    device = await _kiosk_device(client, staff)
    assert device["open_call"]["reason"] == "visitor"  # a heartbeat does not erase the call
    closed = await client.post(f"/api/v1/devices/{device['id']}/close-call", headers=staff)
    assert closed.status_code == 204
    assert (await _kiosk_device(client, staff))["open_call"] is None


async def test_kiosk_sells_only_its_allowed_products(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict[str, str]
) -> None:
    manager = await _staff(client)
    device = await _kiosk_device(client, manager)
    response = await client.post(
        f"/api/v1/devices/{device['id']}/products",
        json={"product_ids": [demo.coupon_book_id]},
        headers=manager,
    )
    assert response.status_code == 204
    catalog = (await client.get("/api/v1/kiosk/catalog", headers=kiosk_headers)).json()
    assert [p["id"] for p in catalog["products"]] == [demo.coupon_book_id]
    headers = {**kiosk_headers, "Idempotency-Key": str(uuid.uuid4())}
    refused = await client.post(
        "/api/v1/kiosk/orders", json=_order_body(demo, 2000), headers=headers
    )
    assert refused.status_code == 403
    await client.post(
        f"/api/v1/devices/{device['id']}/products", json={"product_ids": []}, headers=manager
    )
    allowed = await client.post(
        "/api/v1/kiosk/orders", json=_order_body(demo, 2000), headers=headers
    )
    assert allowed.status_code == 201  # empty list: every kiosk product again


async def test_only_managers_limit_products(client: AsyncTestClient, demo: DemoFacility) -> None:
    staff = await _staff(client, "staff")
    device = await _kiosk_device(client, staff)
    response = await client.post(
        f"/api/v1/devices/{device['id']}/products",
        json={"product_ids": [demo.day_ticket_id]},
        headers=staff,
    )
    assert response.status_code == 403
