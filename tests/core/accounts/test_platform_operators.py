"""Platform operators (issue 17.1): their login, the facilities they create and list,
and the wall between operator and staff tokens."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner
from litestar.testing import AsyncTestClient

from core_service.commands import platform
from core_service.demo.data import DEMO_SLUG, DemoFacility
from core_service.models import AuditLog, Facility, PlatformOperator, StaffUser
from core_service.platform.settings import Settings
from tests.support.aftersales import staff_headers
from tests.support.platform import (
    NEW_FACILITY,
    OPERATOR_EMAIL,
    make_operator,
    operator_headers,
)
from tests.support.web import query


async def test_an_operator_creates_a_facility_whose_owner_can_log_in(
    client: AsyncTestClient, db_settings: Settings
) -> None:
    await make_operator(db_settings)
    ops = await operator_headers(client)
    made = await client.post("/api/v1/platform/facilities", json=NEW_FACILITY, headers=ops)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["facility"]["slug"] == "new-aquarium"
    assert body["facility"]["owners"] == ["boss@aquarium.example"]
    assert body["owner_password"] == ""  # the operator chose it: nothing to show
    login = await client.post(
        "/api/v1/auth/login",
        json={
            "facility": "new-aquarium",
            "email": "boss@aquarium.example",
            "password": "owner-pass-1",
        },
    )
    assert login.status_code == 200, login.text
    assert login.json()["role"] == "owner"
    assert login.json()["facility"]["name_en"] == "New Aquarium"
    (key,) = await query(
        db_settings, sa.select(Facility.signing_public_key).where(Facility.slug == "new-aquarium")
    )
    assert key[0]  # a ticket-signing key of its own
    listed = await client.get("/api/v1/platform/facilities", headers=ops)
    assert [f["slug"] for f in listed.json()] == [DEMO_SLUG, "new-aquarium"]
    audit = await query(
        db_settings,
        sa.select(AuditLog.actor, AuditLog.action, AuditLog.data).where(
            AuditLog.facility_id == body["facility"]["id"]
        ),
    )
    assert [(a, b) for a, b, _ in audit] == [(OPERATOR_EMAIL, "facility.create")]
    assert "owner-pass-1" not in str(audit)


async def test_without_a_password_the_owner_gets_a_one_time_password_shown_once(
    client: AsyncTestClient, db_settings: Settings
) -> None:
    await make_operator(db_settings)
    ops = await operator_headers(client)
    new = {k: v for k, v in NEW_FACILITY.items() if k != "owner_password"}
    made = await client.post("/api/v1/platform/facilities", json=new, headers=ops)
    assert made.status_code == 201, made.text
    password = made.json()["owner_password"]
    assert len(password) >= 12
    login = await client.post(
        "/api/v1/auth/login",
        json={"facility": "new-aquarium", "email": new["owner_email"], "password": password},
    )
    assert login.status_code == 200, login.text
    listed = await client.get("/api/v1/platform/facilities", headers=ops)
    assert password not in listed.text


async def test_bad_facility_input_is_refused_with_the_field_and_nothing_is_made(
    client: AsyncTestClient, db_settings: Settings
) -> None:
    await make_operator(db_settings)
    ops = await operator_headers(client)
    cases = {
        "slug": {"slug": "Bad Slug!"},
        "timezone": {"timezone": "Mars/Olympus"},
        "owner_email": {"owner_email": "not-an-address"},
        "password": {"owner_password": "short"},
    }
    for field, change in cases.items():
        refused = await client.post(
            "/api/v1/platform/facilities", json={**NEW_FACILITY, **change}, headers=ops
        )
        assert refused.status_code == 422, (field, refused.text)
        assert refused.json()["code"] == "invalid_input"
        assert refused.json()["field"] == field
    bad_number = await client.post(
        "/api/v1/platform/facilities",
        json={**NEW_FACILITY, "tax_registration_number": "T1234567890123"},
        headers={**ops, "Accept-Language": "ja"},
    )
    assert bad_number.status_code == 422 and "登録番号" in bad_number.json()["detail"]
    taken = await client.post(
        "/api/v1/platform/facilities", json={**NEW_FACILITY, "slug": DEMO_SLUG}, headers=ops
    )
    assert taken.status_code == 409 and taken.json()["field"] == "slug"
    slugs = await query(db_settings, sa.select(Facility.slug))
    assert [s for (s,) in slugs] == [DEMO_SLUG]
    owners = await query(
        db_settings,
        sa.select(StaffUser.email).where(StaffUser.email == NEW_FACILITY["owner_email"]),
    )
    assert owners == []


async def test_a_staff_token_never_passes_an_operator_guard(
    client: AsyncTestClient, demo: DemoFacility, db_settings: Settings
) -> None:
    owner = await staff_headers(client, demo, "owner")
    for method, path in (
        ("GET", "/api/v1/platform/facilities"),
        ("POST", "/api/v1/platform/facilities"),
    ):
        refused = await client.request(method, path, json=NEW_FACILITY, headers=owner)
        assert refused.status_code == 401, refused.text
    assert (
        await query(db_settings, sa.select(Facility.id).where(Facility.slug == "new-aquarium"))
        == []
    )


async def test_an_operator_token_never_passes_a_staff_guard(
    client: AsyncTestClient, db_settings: Settings
) -> None:
    await make_operator(db_settings)
    ops = await operator_headers(client)
    for path in ("/api/v1/auth/me", "/api/v1/staff", "/api/v1/facility/settings", "/api/v1/audit"):
        refused = await client.get(path, headers=ops)
        assert refused.status_code == 401, (path, refused.text)


async def test_wrong_operator_passwords_are_refused_alike_and_throttled(
    client: AsyncTestClient, db_settings: Settings
) -> None:
    await make_operator(db_settings)
    answers = [
        await client.post(
            "/api/v1/platform/login", json={"email": email, "password": "wrong-password"}
        )
        for email in (OPERATOR_EMAIL, "nobody@platform.example")
    ]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json()["detail"] == answers[1].json()["detail"]
    for _ in range(4):
        await client.post(
            "/api/v1/platform/login", json={"email": OPERATOR_EMAIL, "password": "wrong-password"}
        )
    paused = await client.post(
        "/api/v1/platform/login", json={"email": OPERATOR_EMAIL, "password": "operator-pass-1"}
    )
    assert paused.status_code == 429


async def test_operator_logout_ends_the_token(
    client: AsyncTestClient, db_settings: Settings
) -> None:
    await make_operator(db_settings)
    ops = await operator_headers(client)
    assert (await client.post("/api/v1/platform/logout", headers=ops)).status_code == 204
    assert (await client.get("/api/v1/platform/facilities", headers=ops)).status_code == 401


def test_the_command_adds_an_operator_with_the_password_from_a_file(
    sqlite_settings: Settings,
    tmp_path,
    monkeypatch,  # noqa: ANN001
) -> None:
    import asyncio

    monkeypatch.setenv("KIPPU_DATABASE_URL", sqlite_settings.database_url)
    monkeypatch.setenv("KIPPU_SECRET_KEY", sqlite_settings.secret_key)
    monkeypatch.setenv("KIPPU_VAR_DIR", str(tmp_path))
    secret = tmp_path / "pw"
    secret.write_text("from-a-file-1\n")
    args = ["operator", "add", "Root@Platform.example", "--password-file", str(secret)]
    result = CliRunner().invoke(platform, args)
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(platform, args)
    assert again.exit_code != 0 and "exists already" in again.output
    rows = asyncio.run(query(sqlite_settings, sa.select(PlatformOperator.email)))
    assert [e for (e,) in rows] == ["root@platform.example"]
