"""Staff accounts through the API (issue 17.2): who may manage whom, the last owner,
tokens ending on a role change, deactivation or password reset, other facilities."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility, demo_staff_email
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.aftersales import staff_headers


async def _members(client: AsyncTestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    listed = await client.get("/api/v1/staff", headers=headers)
    assert listed.status_code == 200, listed.text
    return {m["email"]: m for m in listed.json()}


async def _id(
    client: AsyncTestClient, headers: dict[str, str], role: str, demo: DemoFacility
) -> int:
    return int((await _members(client, headers))[demo_staff_email(role, demo.slug)]["id"])


@pytest.mark.parametrize("role", ["viewer", "staff"])
async def test_below_manager_the_staff_api_is_refused(
    client: AsyncTestClient, demo: DemoFacility, role: str
) -> None:
    headers = await staff_headers(client, demo, role)
    assert (await client.get("/api/v1/staff", headers=headers)).status_code == 403
    made = await client.post(
        "/api/v1/staff", json={"email": "x@park.example", "role": "viewer"}, headers=headers
    )
    assert made.status_code == 403


async def test_a_new_member_gets_a_one_time_password_that_logs_in(
    client: AsyncTestClient, demo: DemoFacility
) -> None:
    manager = await staff_headers(client, demo, "manager")
    made = await client.post(
        "/api/v1/staff",
        json={"email": "New@Park.example", "role": "staff", "display_name": "新人"},
        headers=manager,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["member"]["email"] == "new@park.example" and body["member"]["role"] == "staff"
    login = await client.post(
        "/api/v1/auth/login",
        json={
            "facility": demo.slug,
            "email": "new@park.example",
            "password": body["one_time_password"],
        },
    )
    assert login.status_code == 200, login.text
    again = await client.post(
        "/api/v1/staff", json={"email": "new@park.example", "role": "viewer"}, headers=manager
    )
    assert again.status_code == 409


async def test_a_manager_never_makes_or_raises_anyone_to_manager_or_owner(
    client: AsyncTestClient, demo: DemoFacility
) -> None:
    manager = await staff_headers(client, demo, "manager")
    for role in ("manager", "owner"):
        made = await client.post(
            "/api/v1/staff", json={"email": f"{role}2@park.example", "role": role}, headers=manager
        )
        assert made.status_code == 403, made.text
    staff_id = await _id(client, manager, "staff", demo)
    raised = await client.patch(
        f"/api/v1/staff/{staff_id}", json={"role": "manager"}, headers=manager
    )
    assert raised.status_code == 403
    owner_id = await _id(client, manager, "owner", demo)
    for change in ({"active": False}, {"display_name": "x"}):
        touched = await client.patch(f"/api/v1/staff/{owner_id}", json=change, headers=manager)
        assert touched.status_code == 403, touched.text
    reset = await client.post(f"/api/v1/staff/{owner_id}/reset-password", headers=manager)
    assert reset.status_code == 403
    members = await _members(client, manager)
    assert members[demo_staff_email("staff", demo.slug)]["role"] == "staff"
    assert members[demo_staff_email("owner", demo.slug)]["active"] is True


async def test_the_last_active_owner_is_neither_demoted_nor_deactivated(
    client: AsyncTestClient, demo: DemoFacility
) -> None:
    owner = await staff_headers(client, demo, "owner")
    owner_id = await _id(client, owner, "owner", demo)
    for change in ({"role": "manager"}, {"active": False}):
        refused = await client.patch(f"/api/v1/staff/{owner_id}", json=change, headers=owner)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "conflict"
    # With a second owner, the first may step down.
    manager_id = await _id(client, owner, "manager", demo)
    promoted = await client.patch(
        f"/api/v1/staff/{manager_id}", json={"role": "owner"}, headers=owner
    )
    assert promoted.status_code == 200, promoted.text
    stepped = await client.patch(
        f"/api/v1/staff/{owner_id}", json={"role": "manager"}, headers=owner
    )
    assert stepped.status_code == 200, stepped.text


async def test_a_role_change_ends_the_members_tokens_and_a_name_change_does_not(
    client: AsyncTestClient, demo: DemoFacility
) -> None:
    owner = await staff_headers(client, demo, "owner")
    staff = await staff_headers(client, demo, "staff")
    staff_id = await _id(client, owner, "staff", demo)
    renamed = await client.patch(
        f"/api/v1/staff/{staff_id}", json={"display_name": "花子"}, headers=owner
    )
    assert renamed.status_code == 200 and renamed.json()["display_name"] == "花子"
    assert (await client.get("/api/v1/auth/me", headers=staff)).status_code == 200
    demoted = await client.patch(
        f"/api/v1/staff/{staff_id}", json={"role": "viewer"}, headers=owner
    )
    assert demoted.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=staff)).status_code == 401
    relogged = await staff_headers(client, demo, "staff")
    me = await client.get("/api/v1/auth/me", headers=relogged)
    assert me.json()["role"] == "viewer"


async def test_deactivating_ends_the_tokens_and_the_login(
    client: AsyncTestClient, demo: DemoFacility
) -> None:
    manager = await staff_headers(client, demo, "manager")
    viewer = await staff_headers(client, demo, "viewer")
    viewer_id = await _id(client, manager, "viewer", demo)
    off = await client.patch(f"/api/v1/staff/{viewer_id}", json={"active": False}, headers=manager)
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await client.get("/api/v1/auth/me", headers=viewer)).status_code == 401
    with pytest.raises(AssertionError):
        await staff_headers(client, demo, "viewer")


async def test_a_password_reset_shows_a_new_password_once_and_ends_old_tokens(
    client: AsyncTestClient, demo: DemoFacility
) -> None:
    manager = await staff_headers(client, demo, "manager")
    staff = await staff_headers(client, demo, "staff")
    staff_id = await _id(client, manager, "staff", demo)
    reset = await client.post(f"/api/v1/staff/{staff_id}/reset-password", headers=manager)
    assert reset.status_code == 200, reset.text
    password = reset.json()["one_time_password"]
    assert (await client.get("/api/v1/auth/me", headers=staff)).status_code == 401
    email = demo_staff_email("staff", demo.slug)
    login = await client.post(
        "/api/v1/auth/login", json={"facility": demo.slug, "email": email, "password": password}
    )
    assert login.status_code == 200
    assert password not in (await client.get("/api/v1/staff", headers=manager)).text


async def test_another_facilitys_members_are_invisible_and_untouchable(
    client: AsyncTestClient, demo: DemoFacility, db_settings: Settings
) -> None:
    other = await seed_demo(db_settings, slug="other-park", name_ja="別の公園", name_en="Other")
    ours = await staff_headers(client, demo, "owner")
    theirs = await staff_headers(client, other, "owner")
    their_staff = await _id(client, theirs, "staff", other)
    assert all(m.endswith(f"@{demo.slug}.example") for m in await _members(client, ours))
    for call in (
        client.patch(f"/api/v1/staff/{their_staff}", json={"active": False}, headers=ours),
        client.post(f"/api/v1/staff/{their_staff}/reset-password", headers=ours),
    ):
        assert (await call).status_code == 404
    assert (await _members(client, theirs))[demo_staff_email("staff", other.slug)]["active"]


async def test_bad_input_names_the_field(client: AsyncTestClient, demo: DemoFacility) -> None:
    owner = await staff_headers(client, demo, "owner")
    for body, field in (
        ({"email": "nope", "role": "staff"}, "email"),
        ({"email": "a@park.example", "role": "boss"}, "role"),
        ({"email": "a@park.example", "role": "staff", "password": "short"}, "password"),
    ):
        refused = await client.post(
            "/api/v1/staff", json=body, headers={**owner, "Accept-Language": "ja"}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == field
    assert "a@park.example" not in str(await _members(client, owner))


async def test_a_password_reset_lifts_a_pause_from_failed_logins(
    client: AsyncTestClient, demo: DemoFacility
) -> None:
    owner = await staff_headers(client, demo, "owner")
    email = demo_staff_email("staff", demo.slug)
    for _ in range(6):
        await client.post(
            "/api/v1/auth/login",
            json={"facility": demo.slug, "email": email, "password": "wrong-password"},
        )
    staff_id = await _id(client, owner, "staff", demo)
    password = (
        await client.post(f"/api/v1/staff/{staff_id}/reset-password", headers=owner)
    ).json()["one_time_password"]
    login = await client.post(
        "/api/v1/auth/login", json={"facility": demo.slug, "email": email, "password": password}
    )
    assert login.status_code == 200, login.text
