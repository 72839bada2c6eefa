"""Facilities enter their payment provider credentials through the API (issue 4)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DEMO_PASSWORD, DemoFacility, demo_staff_email
from core_service.models import AuditLog, Facility
from core_service.payments.credentials import load_credentials
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.web import query

URL = "/api/v1/facility/payment-credentials"
SECRET = "sk_live_51Hx0TOPsecretVALUE9f3a"
WEBHOOK = "whsec_anotherSECRETvalue77ab"
VALUES = {"secret_key": SECRET, "webhook_secret": WEBHOOK, "publishable_key": "pk_live_123"}


async def _login(
    client: AsyncTestClient, role: str, slug: str = "kippu-adventure-park"
) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login",
        json={"facility": slug, "email": demo_staff_email(role, slug), "password": DEMO_PASSWORD},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _assert_no_secret(text: str) -> None:
    for secret in (SECRET, WEBHOOK, "TOPsecret", "anotherSECRET"):
        assert secret not in text


async def test_owner_stores_credentials_and_reads_them_back_masked_only(
    client: AsyncTestClient, db_settings: Settings, demo: DemoFacility
) -> None:
    owner = await _login(client, "owner")
    stored = await client.put(f"{URL}/stripe", json=VALUES, headers=owner)
    assert stored.status_code == 200, stored.text
    _assert_no_secret(stored.text)
    assert stored.json()["fields"] == {
        "secret_key": "sk_live_…9f3a",
        "webhook_secret": "whsec_…77ab",
        "publishable_key": "pk_live_123",  # identifies, does not authenticate: in full
    }

    for role in ("manager", "owner"):
        listed = await client.get(URL, headers=await _login(client, role))
        assert listed.status_code == 200
        _assert_no_secret(listed.text)
        body = listed.json()
        assert "stripe" in body["providers"]
        (stripe,) = [c for c in body["credentials"] if c["provider"] == "stripe"]
        assert stripe["fields"]["secret_key"] == "sk_live_…9f3a"
        assert stripe["updated_at"]

    # What the payment code reads: the plain values, decrypted with the deployment key.
    (row,) = await query(db_settings, sa.select(Facility).where(Facility.id == demo.facility_id))
    assert load_credentials(row[0], "stripe", db_settings.secret_key) == VALUES
    _assert_no_secret(json.dumps(row[0].settings, ensure_ascii=False))

    logs = await query(
        db_settings,
        sa.select(AuditLog).where(
            AuditLog.facility_id == demo.facility_id,
            AuditLog.action == "facility.payment_credentials",
        ),
    )
    (log,) = [r[0] for r in logs]
    assert log.subject == "stripe" and log.actor == demo_staff_email("owner")
    assert log.data == {"provider": "stripe", "fields": sorted(VALUES)}
    _assert_no_secret(json.dumps(log.data))


async def test_storing_again_replaces_the_providers_credentials(
    client: AsyncTestClient, db_settings: Settings, demo: DemoFacility
) -> None:
    owner = await _login(client, "owner")
    await client.put(f"{URL}/stripe", json=VALUES, headers=owner)
    again = await client.put(
        f"{URL}/stripe", json={"secret_key": "sk_test_newKEY0000"}, headers=owner
    )
    assert again.status_code == 200
    (row,) = await query(db_settings, sa.select(Facility).where(Facility.id == demo.facility_id))
    assert load_credentials(row[0], "stripe", db_settings.secret_key) == {
        "secret_key": "sk_test_newKEY0000"
    }


@pytest.mark.parametrize(
    ("role", "read_status", "write_status"),
    [("viewer", 403, 403), ("staff", 403, 403), ("manager", 200, 403), ("owner", 200, 200)],
)
async def test_credentials_follow_the_role_ladder(
    client: AsyncTestClient, role: str, read_status: int, write_status: int
) -> None:
    headers = await _login(client, role)
    read = await client.get(URL, headers=headers)
    written = await client.put(f"{URL}/stripe", json=VALUES, headers=headers)
    assert (read.status_code, written.status_code) == (read_status, write_status)
    _assert_no_secret(read.text + written.text)


async def test_anonymous_requests_are_refused(client: AsyncTestClient) -> None:
    assert (await client.get(URL)).status_code == 401
    assert (await client.put(f"{URL}/stripe", json=VALUES)).status_code == 401


@pytest.mark.parametrize(
    ("provider", "body", "status"),
    [
        ("no-such-provider", VALUES, 422),
        ("stripe_payments", VALUES, 422),  # a plugin name, not a provider name
        ("stripe", {}, 422),
        ("stripe", {"secret_key": 12345}, 422),
        ("stripe", {"secret_key": ""}, 422),
        ("stripe", ["sk_live_x"], 400),  # not an object: refused by the framework's parsing
    ],
)
async def test_unknown_provider_or_bad_fields_are_refused_with_422(
    client: AsyncTestClient,
    db_settings: Settings,
    demo: DemoFacility,
    provider: str,
    body: object,
    status: int,
) -> None:
    owner = await _login(client, "owner")
    response = await client.put(f"{URL}/{provider}", json=body, headers=owner)
    assert response.status_code == status, response.text
    (row,) = await query(db_settings, sa.select(Facility).where(Facility.id == demo.facility_id))
    assert load_credentials(row[0], provider, db_settings.secret_key) == {}


async def test_another_facility_never_sees_our_credentials(
    client: AsyncTestClient, db_settings: Settings, demo: DemoFacility
) -> None:
    await seed_demo(db_settings, slug="other-park", name_ja="別の公園", name_en="Other Park")
    ours = await _login(client, "owner")
    theirs = await _login(client, "owner", slug="other-park")
    assert (await client.put(f"{URL}/stripe", json=VALUES, headers=ours)).status_code == 200

    listed = await client.get(URL, headers=theirs)
    assert listed.status_code == 200
    _assert_no_secret(listed.text)
    assert "…9f3a" not in listed.text
    assert all(c["provider"] != "stripe" for c in listed.json()["credentials"])


async def test_the_overview_answers_each_installed_providers_declared_fields(
    client: AsyncTestClient,
) -> None:
    listed = await client.get(URL, headers=await _login(client, "manager"))
    assert listed.status_code == 200
    declared = listed.json()["declared_fields"]
    assert set(declared) == set(listed.json()["providers"])
    stripe = {f["name"]: f for f in declared["stripe"]}
    assert {"secret_key", "webhook_secret", "publishable_key"} <= set(stripe)
    assert stripe["secret_key"]["secret"] and not stripe["publishable_key"]["secret"]
    assert stripe["webhook_secret"]["label_ja"] and stripe["webhook_secret"]["label_en"]
    assert {f["name"] for f in declared["paypay"]} >= {"api_key", "api_secret", "merchant_id"}


@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_a_field_the_provider_does_not_declare_is_refused_by_name(
    client: AsyncTestClient, db_settings: Settings, demo: DemoFacility, lang: str
) -> None:
    owner = await _login(client, "owner")
    await client.put(f"{URL}/stripe", json=VALUES, headers=owner)
    response = await client.put(
        f"{URL}/stripe",
        json={"secret_key": "sk_test_newKEY0000", "secret_kye": "typo"},
        headers={**owner, "Accept-Language": lang},
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_input" and body["field"] == "secret_kye"
    assert "secret_kye" in body["detail"]
    assert ("項目" in body["detail"]) == (lang == "ja")
    # Nothing lost: the keys stored before are still there, and no audit entry was added.
    (row,) = await query(db_settings, sa.select(Facility).where(Facility.id == demo.facility_id))
    assert load_credentials(row[0], "stripe", db_settings.secret_key) == VALUES
    logs = await query(
        db_settings,
        sa.select(AuditLog).where(
            AuditLog.facility_id == demo.facility_id,
            AuditLog.action == "facility.payment_credentials",
        ),
    )
    assert len(logs) == 1


async def test_a_provider_without_declared_fields_still_takes_any_field(
    client: AsyncTestClient, db_settings: Settings, demo: DemoFacility
) -> None:
    from core_service.payments.provider import PaymentProvider
    from core_service.plugins.values import hookimpl

    class Loose(PaymentProvider):
        name = "loose"
        methods = ("card",)

        def method_label(self, method: str, locale: str) -> str:
            return method

        async def start(self, payment: object) -> object:  # type: ignore[override]
            raise NotImplementedError

    class Plugin:
        @hookimpl
        def register_payment_providers(self) -> list[type[PaymentProvider]]:
            return [Loose]

    host = client.app.state.plugin_host
    plugin = Plugin()
    host.pm.register(plugin, name="loose_payments")
    try:
        owner = await _login(client, "owner")
        listed = await client.get(URL, headers=owner)
        assert listed.json()["declared_fields"]["loose"] == []
        stored = await client.put(
            f"{URL}/loose", json={"anything": "goes_here_1234"}, headers=owner
        )
        assert stored.status_code == 200, stored.text
    finally:
        host.pm.unregister(plugin)
    (row,) = await query(db_settings, sa.select(Facility).where(Facility.id == demo.facility_id))
    assert load_credentials(row[0], "loose", db_settings.secret_key) == {
        "anything": "goes_here_1234"
    }
