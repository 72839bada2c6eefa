"""The platform operator's page ``/platform/`` (issue 17.1): log in, create a facility with
its owner, list facilities; in Japanese and English; forms need the CSRF token and the
operator's cookie."""

from __future__ import annotations

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.models import Facility
from core_service.platform.settings import Settings
from tests.support.aftersales import html_client
from tests.support.platform import NEW_FACILITY, OPERATOR_EMAIL, OPERATOR_PASSWORD, make_operator
from tests.support.web import query


async def _log_in(client: AsyncTestClient) -> None:
    html_client(client)
    answer = await client.post(
        "/platform/login", data={"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD}
    )
    assert answer.status_code == 303, answer.text
    assert "kippu_operator" in client.cookies


async def test_an_operator_logs_in_creates_a_facility_and_sees_it_listed(
    client: AsyncTestClient, db_settings: Settings
) -> None:
    await make_operator(db_settings)
    await _log_in(client)
    form = {k: v for k, v in NEW_FACILITY.items() if k != "owner_password"}
    made = await client.post("/platform/facilities", data={**form, "timezone": "Asia/Tokyo"})
    assert made.status_code == 200, made.text
    assert 'class="platform-created-slug">new-aquarium<' in made.text
    assert 'class="platform-owner-password"' in made.text  # none typed: one made, shown once
    page = await client.get("/platform/")
    assert page.text.count('class="platform-facility"') == 2
    assert "boss@aquarium.example" in page.text
    assert 'class="platform-owner-password"' not in page.text


async def test_a_refused_form_keeps_what_was_typed_and_says_why_in_english(
    client: AsyncTestClient, db_settings: Settings
) -> None:
    await make_operator(db_settings)
    await _log_in(client)
    bad = {**NEW_FACILITY, "slug": "Bad Slug", "timezone": "Asia/Tokyo"}
    refused = await client.post("/platform/facilities?lang=en", data=bad)
    assert refused.status_code == 422
    assert "lower-case letters" in refused.text and 'value="新しい水族館"' in refused.text
    assert "owner-pass-1" not in refused.text
    assert (
        await query(db_settings, sa.select(Facility.id).where(Facility.name_en == "New Aquarium"))
        == []
    )


async def test_wrong_credentials_show_the_form_again_in_japanese(
    client: AsyncTestClient, db_settings: Settings
) -> None:
    await make_operator(db_settings)
    html_client(client)
    refused = await client.post(
        "/platform/login?lang=ja", data={"email": OPERATOR_EMAIL, "password": "wrong-password"}
    )
    assert refused.status_code == 401
    assert "パスワードが正しくありません" in refused.text and "kippu_operator" not in client.cookies


async def test_without_the_operator_cookie_or_the_csrf_token_nothing_is_created(
    client: AsyncTestClient, db_settings: Settings
) -> None:
    await make_operator(db_settings)
    html_client(client)
    data = {**NEW_FACILITY, "timezone": "Asia/Tokyo"}
    anonymous = await client.post("/platform/facilities", data=data)
    assert anonymous.status_code == 401 and 'class="platform-login-form"' in anonymous.text
    await _log_in(client)
    client.send_csrf = False  # type: ignore[attr-defined]
    forged = await client.post("/platform/facilities", data=data)
    assert forged.status_code == 403
    assert (
        await query(db_settings, sa.select(Facility.id).where(Facility.slug == "new-aquarium"))
        == []
    )


async def test_logout_ends_the_operators_token(
    client: AsyncTestClient, db_settings: Settings
) -> None:
    await make_operator(db_settings)
    await _log_in(client)
    token = client.cookies["kippu_operator"]
    assert (await client.post("/platform/logout")).status_code == 303
    listed = await client.get(
        "/api/v1/platform/facilities", headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.status_code == 401
