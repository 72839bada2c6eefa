"""Gate scans: first admits, second is refused, forged and foreign codes are invalid."""

from __future__ import annotations

import uuid

from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from kippu_contract.tokens import TokenClaim, generate_signing_key, sign_token, verify_token


async def _buy(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict, category: int, price: int
) -> dict:
    response = await client.post(
        "/api/v1/kiosk/orders",
        json={
            "lines": [{"price_category_id": category, "quantity": 1}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "qr", "reference": "t-1", "amount": price},
        },
        headers={**kiosk_headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return response.json()["tickets"][0]


async def _scan(
    client: AsyncTestClient, gate_headers: dict, token: str, direction: str = "entry"
) -> dict:
    response = await client.post(
        "/api/v1/gate/scan", json={"token": token, "direction": direction}, headers=gate_headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_first_scan_admits_and_second_is_already_used(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict, gate_headers: dict
) -> None:
    ticket = await _buy(client, demo, kiosk_headers, demo.adult_category_id, 2000)
    first = await _scan(client, gate_headers, ticket["qr_token"])
    second = await _scan(client, gate_headers, ticket["qr_token"])
    assert (first["result"], first["admitted"]) == ("admitted", True)
    assert (second["result"], second["admitted"]) == ("already_used", False)
    assert second["message_ja"] and second["message_en"]


async def test_altered_token_is_invalid(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict, gate_headers: dict
) -> None:
    token = (await _buy(client, demo, kiosk_headers, demo.adult_category_id, 2000))["qr_token"]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert (await _scan(client, gate_headers, tampered))["result"] == "invalid"
    assert (await _scan(client, gate_headers, "hello world"))["result"] == "invalid"


async def test_another_spelling_of_a_valid_token_is_invalid_and_admits_nobody(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict, gate_headers: dict
) -> None:
    """The same bytes spelt with padding or the standard alphabet (see
    tests/contract/test_tokens.py for every variant) do not open the gate."""
    token = (await _buy(client, demo, kiosk_headers, demo.adult_category_id, 2000))["qr_token"]
    for variant in (token + "==", token.replace("-", "+").replace("_", "/") + "=="):
        assert (await _scan(client, gate_headers, variant))["result"] == "invalid"
    assert (await _scan(client, gate_headers, token))["result"] == "admitted"


async def test_token_signed_with_another_key_is_invalid(
    client: AsyncTestClient, demo: DemoFacility, gate_headers: dict
) -> None:
    forger_key, _ = generate_signing_key()
    forged = sign_token(forger_key, TokenClaim(1, demo.facility_id, 1, 1))
    assert (await _scan(client, gate_headers, forged))["result"] == "invalid"


async def test_token_of_another_facility_is_refused(
    client: AsyncTestClient, demo: DemoFacility, gate_headers: dict
) -> None:
    other_key, _ = generate_signing_key()
    foreign = sign_token(other_key, TokenClaim(1, demo.facility_id + 1, 1, 1))
    assert (await _scan(client, gate_headers, foreign))["result"] == "wrong_facility"


async def test_coupon_book_admits_once_per_use_until_empty(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict, gate_headers: dict
) -> None:
    ticket = await _buy(client, demo, kiosk_headers, demo.coupon_category_id, 3000)
    results = [
        (await _scan(client, gate_headers, ticket["qr_token"], "ride"))["result"] for _ in range(11)
    ]
    assert results == ["admitted"] * 10 + ["already_used"]


async def test_public_key_verifies_tokens_offline(
    client: AsyncTestClient, demo: DemoFacility, kiosk_headers: dict
) -> None:
    ticket = await _buy(client, demo, kiosk_headers, demo.child_category_id, 1000)
    key = (await client.get(f"/api/v1/facilities/{demo.slug}/public-key")).json()
    assert key["algorithm"] == "Ed25519"
    claim = verify_token(ticket["qr_token"], key["public_key"])
    assert (claim.facility_id, claim.subject_id) == (demo.facility_id, ticket["id"])


async def test_kiosk_token_cannot_scan(client: AsyncTestClient, kiosk_headers: dict) -> None:
    response = await client.post("/api/v1/gate/scan", json={"token": "x"}, headers=kiosk_headers)
    assert response.status_code == 403
