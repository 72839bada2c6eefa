"""Staff login, role guards, device enrolment and revocation, tenant isolation."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from core_service.demo.data import DEMO_PASSWORD, DemoFacility, demo_staff_email
from core_service.platform.settings import Settings
from tests.conftest import seed_demo


async def _login(
    client: AsyncTestClient, role: str, slug: str = "kippu-adventure-park"
) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login",
        json={"facility": slug, "email": demo_staff_email(role, slug), "password": DEMO_PASSWORD},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def test_login_returns_a_token_that_identifies_the_staff_member(
    client: AsyncTestClient,
) -> None:
    headers = await _login(client, "manager")
    me = (await client.get("/api/v1/auth/me", headers=headers)).json()
    assert me["role"] == "manager" and me["facility"]["slug"] == "kippu-adventure-park"


@pytest.mark.parametrize("password", ["wrong-password", ""])
async def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: AsyncTestClient, password: str
) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        json={
            "facility": "kippu-adventure-park",
            "email": demo_staff_email("owner"),
            "password": password,
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "Wrong facility, e-mail or password."


async def test_forged_staff_token_is_refused(client: AsyncTestClient) -> None:
    response = await client.get(
        "/api/v1/auth/me", headers={"Authorization": "Bearer eyJzaWQiOjF9.forged.x"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("role", "list_status", "create_status"),
    [("viewer", 403, 403), ("staff", 200, 403), ("manager", 200, 201), ("owner", 200, 201)],
)
async def test_device_routes_follow_the_role_ladder(
    client: AsyncTestClient, role: str, list_status: int, create_status: int
) -> None:
    headers = await _login(client, role)
    listed = await client.get("/api/v1/devices/", headers=headers)
    created = await client.post(
        "/api/v1/devices/", json={"kind": "kiosk", "name": "K2"}, headers=headers
    )
    assert (listed.status_code, created.status_code) == (list_status, create_status)


async def test_enrolment_code_gives_a_token_once_and_revocation_stops_it(
    client: AsyncTestClient,
) -> None:
    headers = await _login(client, "manager")
    new = (
        await client.post("/api/v1/devices/", json={"kind": "kiosk", "name": "K2"}, headers=headers)
    ).json()
    enrolled = await client.post("/api/v1/kiosk/enrol", json={"code": new["enrolment_code"]})
    again = await client.post("/api/v1/kiosk/enrol", json={"code": new["enrolment_code"]})
    assert (enrolled.status_code, again.status_code) == (200, 404)
    kiosk = {"Authorization": f"Bearer {enrolled.json()['token']}"}
    assert (await client.get("/api/v1/kiosk/catalog", headers=kiosk)).status_code == 200
    revoked = await client.post(f"/api/v1/devices/{new['id']}/revoke", headers=headers)
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/kiosk/catalog", headers=kiosk)).status_code == 401


async def test_staff_of_one_facility_never_see_another_facilitys_devices(
    client: AsyncTestClient, db_settings: Settings, demo: DemoFacility
) -> None:
    await seed_demo(db_settings, slug="other-park", name_ja="別の公園", name_en="Other Park")
    theirs = await _login(client, "owner", slug="other-park")
    ours = await _login(client, "owner")
    their_ids = {d["id"] for d in (await client.get("/api/v1/devices/", headers=theirs)).json()}
    our_ids = {d["id"] for d in (await client.get("/api/v1/devices/", headers=ours)).json()}
    assert their_ids and our_ids and not their_ids & our_ids
    stolen = await client.post(f"/api/v1/devices/{min(our_ids)}/revoke", headers=theirs)
    assert stolen.status_code == 404


async def test_kiosk_of_one_facility_cannot_sell_another_facilitys_tickets(
    client: AsyncTestClient, db_settings: Settings, demo: DemoFacility
) -> None:
    other = await seed_demo(
        db_settings, slug="other-park", name_ja="別の公園", name_en="Other Park"
    )
    response = await client.post(
        "/api/v1/kiosk/orders",
        json={
            "lines": [{"price_category_id": other.adult_category_id, "quantity": 1}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "card", "reference": "r", "amount": 2000},
        },
        headers={
            "Authorization": f"Bearer {demo.kiosk_token}",
            "Idempotency-Key": "cross-tenant-1",
        },
    )
    assert response.status_code == 422
