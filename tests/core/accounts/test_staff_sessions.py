"""Staff tokens end on logout (issue 18.5): every token of that person, at once."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from core_service.demo.data import DEMO_PASSWORD, DEMO_SLUG, DemoFacility, demo_staff_email
from core_service.platform.security import Signer
from core_service.platform.settings import Settings


async def _token(client: AsyncTestClient, role: str = "manager") -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login",
        json={"facility": DEMO_SLUG, "email": demo_staff_email(role), "password": DEMO_PASSWORD},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def test_logout_ends_every_token_of_that_staff_member(client: AsyncTestClient) -> None:
    laptop, phone = await _token(client), await _token(client)
    colleague = await _token(client, "owner")
    assert (await client.get("/api/v1/auth/me", headers=phone)).status_code == 200

    assert (await client.post("/api/v1/auth/logout", headers=laptop)).status_code == 204

    for ended in (laptop, phone):
        refused = await client.get("/api/v1/auth/me", headers=ended)
        assert refused.status_code == 401 and refused.json()["code"] == "http_error"
    assert (await client.get("/api/v1/auth/me", headers=colleague)).status_code == 200
    # Logging in again gives a working token.
    assert (await client.get("/api/v1/auth/me", headers=await _token(client))).status_code == 200


async def test_logout_needs_a_token(client: AsyncTestClient) -> None:
    assert (await client.post("/api/v1/auth/logout")).status_code == 401


async def test_a_token_from_before_token_versions_is_refused(
    client: AsyncTestClient, db_settings: Settings, demo: DemoFacility
) -> None:
    me = (await client.get("/api/v1/auth/me", headers=await _token(client))).json()
    unversioned = Signer(db_settings.secret_key).dumps("staff", {"sid": me["staff"]["id"]})
    refused = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {unversioned}"}
    )
    assert refused.status_code == 401
