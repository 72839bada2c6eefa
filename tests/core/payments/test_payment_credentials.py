"""Provider credentials: encrypted at rest, shown masked, readable with the secret key."""

from __future__ import annotations

import json

import pytest

from core_service.payments.credentials import (
    load_credentials,
    mask,
    masked_credentials,
    seal,
    unseal,
)

SECRET = "test-secret-key-for-kippu"
VALUES = {
    "secret_key": "sk_live_51HxyzABCDEF9f3a",
    "publishable_key": "pk_live_51Hxyz",
    "webhook_secret": "whsec_abcdefghij1234",
}


def test_sealed_record_holds_no_secret_in_clear() -> None:
    record = seal(SECRET, VALUES)
    assert "sk_live_51HxyzABCDEF9f3a" not in json.dumps(record)
    assert unseal(SECRET, record) == VALUES


def test_masked_view_keeps_prefix_and_last_four_only() -> None:
    record = seal(SECRET, VALUES)
    assert record["masked"]["secret_key"] == "sk_live_…9f3a"
    assert record["masked"]["webhook_secret"] == "whsec_…1234"
    assert record["masked"]["publishable_key"] == "pk_live_51Hxyz"  # public by design
    assert mask("short") == "…"


def test_another_secret_key_cannot_decrypt() -> None:
    with pytest.raises(RuntimeError):
        unseal("another-secret", seal(SECRET, VALUES))


def test_facility_settings_round_trip_and_plain_legacy_records() -> None:
    class FacilityStub:
        settings = {
            "payment_credentials": {"stripe": seal(SECRET, VALUES), "demo": {"anything": "plain"}}
        }

    facility = FacilityStub()
    assert load_credentials(facility, "stripe", SECRET) == VALUES  # type: ignore[arg-type]
    assert load_credentials(facility, "demo", SECRET) == {"anything": "plain"}  # type: ignore[arg-type]
    assert load_credentials(facility, "paypay", SECRET) == {}  # type: ignore[arg-type]
    assert masked_credentials(facility)["stripe"]["secret_key"] == "sk_live_…9f3a"  # type: ignore[arg-type]
