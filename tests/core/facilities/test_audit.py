"""The audit log (issue 17.6): set-up changes write rows (never a secret), and
``GET /api/v1/audit`` lists them newest first, a page at a time, for managers of the
facility only."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility, demo_staff_email
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.aftersales import staff_headers


async def _changes(client: AsyncTestClient, manager: dict[str, str]) -> str:
    """A device created, limited to a product and revoked, and a new staff member."""
    made = await client.post(
        "/api/v1/devices", json={"kind": "kiosk", "name": "K-9"}, headers=manager
    )
    device = made.json()
    await client.post(
        f"/api/v1/devices/{device['id']}/products", json={"product_ids": [1]}, headers=manager
    )
    await client.post(f"/api/v1/devices/{device['id']}/revoke", headers=manager)
    member = await client.post(
        "/api/v1/staff", json={"email": "aud@park.example", "role": "viewer"}, headers=manager
    )
    return str(device["enrolment_code"]) + " " + member.json()["one_time_password"]


async def test_changes_are_listed_newest_first_with_actor_and_no_secret(
    client: AsyncTestClient, demo: DemoFacility
) -> None:
    manager = await staff_headers(client, demo, "manager")
    secrets = await _changes(client, manager)
    page = await client.get("/api/v1/audit", headers=manager)
    assert page.status_code == 200, page.text
    entries = page.json()["entries"]
    assert [e["action"] for e in entries[:4]] == [
        "staff.create",
        "device.revoke",
        "device.products",
        "device.create",
    ]
    assert {e["actor"] for e in entries[:4]} == {demo_staff_email("manager", demo.slug)}
    assert entries[2]["data"] == {"before": [], "after": [1]}
    for secret in secrets.split():
        assert secret not in page.text


async def test_pages_follow_each_other_without_gaps(
    client: AsyncTestClient, demo: DemoFacility
) -> None:
    manager = await staff_headers(client, demo, "manager")
    await _changes(client, manager)
    everything = (await client.get("/api/v1/audit", params={"limit": 200}, headers=manager)).json()
    seen: list[int] = []
    before = None
    while True:
        params = {"limit": 3, **({"before": before} if before else {})}
        page = (await client.get("/api/v1/audit", params=params, headers=manager)).json()
        seen += [e["id"] for e in page["entries"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == [e["id"] for e in everything["entries"]]
    assert seen == sorted(seen, reverse=True) and len(seen) >= 4
    too_many = await client.get("/api/v1/audit", params={"limit": 1000}, headers=manager)
    assert too_many.status_code == 422 and too_many.json()["field"] == "limit"


@pytest.mark.parametrize("role", ["viewer", "staff"])
async def test_below_manager_the_audit_is_refused(
    client: AsyncTestClient, demo: DemoFacility, role: str
) -> None:
    assert (
        await client.get("/api/v1/audit", headers=await staff_headers(client, demo, role))
    ).status_code == 403


async def test_another_facility_sees_none_of_these_rows(
    client: AsyncTestClient, demo: DemoFacility, db_settings: Settings
) -> None:
    other = await seed_demo(db_settings, slug="other-park", name_ja="別の公園", name_en="Other")
    await _changes(client, await staff_headers(client, demo, "manager"))
    theirs = await client.get("/api/v1/audit", headers=await staff_headers(client, other, "owner"))
    assert theirs.status_code == 200
    assert "aud@park.example" not in theirs.text and "K-9" not in theirs.text
