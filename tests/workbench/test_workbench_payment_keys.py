"""The settings page's payment provider keys, against a live core: the owner types them
once, everyone on the page sees them masked, nobody sees them again in full."""

from __future__ import annotations

import asyncio
import json

import panel as pn
import sqlalchemy as sa
from bokeh.document import Document

from core_service.models import Facility
from core_service.payments.credentials import load_credentials
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.web import query
from tests.support.workbench import core_api
from workbench.core_client import StaffIdentity
from workbench.facility_settings import SettingsState
from workbench.payment_keys import PaymentKeysState
from workbench.views_admin import SettingsPage
from workbench.views_payment_keys import PaymentKeysSection

SECRET = "sk_live_51Hx0TOPsecretVALUE9f3a"
WEBHOOK = "whsec_anotherSECRETvalue77ab"


def _render(state: PaymentKeysState, core: object, role: str, lang: str = "en") -> list[object]:
    identity = StaffIdentity("t", role, "x@y", 1, "p", "パーク", "Park")
    page = SettingsPage(state=SettingsState(core), payment_keys=state, identity=identity, lang=lang)
    return list(pn.panel(page).get_root(Document()).references())


def _classes(models: list[object]) -> set[str]:
    return {c for m in models for c in (getattr(m, "css_classes", None) or [])}


def _texts(models: list[object]) -> str:
    return " ".join(str(getattr(m, "text", "")) for m in models)


def test_owner_enters_stripe_keys_and_sees_them_masked_only(db_settings: Settings) -> None:
    demo = asyncio.run(seed_demo(db_settings))
    with core_api(db_settings, "owner") as core:
        state = PaymentKeysState(core)
        assert state.loaded
        names = [p["provider"] for p in state.providers]
        assert {"stripe", "paypay", "paidy"} <= set(names)
        assert [f.name for f in state.fields("stripe")][:3] == [
            "secret_key",
            "publishable_key",
            "webhook_secret",
        ]
        models = _render(state, core, "owner")
        classes = _classes(models)
        assert {
            "payment-keys-stripe-secret_key",
            "payment-keys-stripe-webhook_secret",
            "payment-keys-stripe-save",
            "payment-keys-paypay-api_secret",
        } <= classes
        inputs = {
            c: m
            for m in models
            for c in (getattr(m, "css_classes", None) or [])
            if c.startswith("payment-keys-stripe-") and type(m).__name__ == "PasswordInput"
        }
        assert set(inputs) >= {
            "payment-keys-stripe-secret_key",
            "payment-keys-stripe-publishable_key",
        }

        state.set_value("stripe", "secret_key", SECRET)
        state.set_value("stripe", "webhook_secret", WEBHOOK)
        state.set_value("stripe", "publishable_key", "pk_live_123")
        state.set_value("stripe", "api_base", "   ")  # left empty: not sent
        assert state.save("stripe"), state.message
        assert state.message == "saved" and state.entered("stripe") == {}
        (stripe,) = [p for p in state.providers if p["provider"] == "stripe"]
        assert stripe["masked"] == {
            "secret_key": "sk_live_…9f3a",
            "webhook_secret": "whsec_…77ab",
            "publishable_key": "pk_live_123",
        }
        assert stripe["updated_at"]

        again = PaymentKeysState(core)
        page = _texts(_render(again, core, "owner", lang="ja"))
        assert "sk_live_…9f3a" in page and "決済サービスのキー" in page
        assert SECRET not in page and WEBHOOK not in page
        assert SECRET not in json.dumps(again.providers, default=str)

    (row,) = asyncio.run(
        query(db_settings, sa.select(Facility).where(Facility.id == demo.facility_id))
    )
    assert load_credentials(row[0], "stripe", db_settings.secret_key) == {
        "secret_key": SECRET,
        "webhook_secret": WEBHOOK,
        "publishable_key": "pk_live_123",
    }


def test_saving_from_the_page_empties_the_inputs(db_settings: Settings) -> None:
    asyncio.run(seed_demo(db_settings))
    with core_api(db_settings, "owner") as core:
        state = PaymentKeysState(core)
        section = PaymentKeysSection(state=state, role="owner", lang="en")
        stripe = next(
            block
            for block in section._providers("en", state.providers)
            if "payment-keys-stripe" in (block.css_classes or [])
        )
        boxes = [w for w in stripe if isinstance(w, pn.widgets.PasswordInput)]
        (save,) = [w for w in stripe if isinstance(w, pn.widgets.Button)]
        assert save.css_classes == ["payment-keys-stripe-save"]
        boxes[0].value_input = SECRET  # what typing does, before the input loses focus
        save.clicks += 1
        assert state.message == "saved", state.message
        assert all(b.value == "" and b.value_input == "" for b in boxes)
        (stored,) = [p for p in state.providers if p["provider"] == "stripe"]
        assert stored["masked"] == {"secret_key": "sk_live_…9f3a"}


def test_a_refusal_is_shown_and_the_stored_keys_are_kept(db_settings: Settings) -> None:
    asyncio.run(seed_demo(db_settings))
    with core_api(db_settings, "owner") as core:
        state = PaymentKeysState(core)
        state.set_value("stripe", "secret_key", SECRET)
        assert state.save("stripe")
        assert not state.save("stripe")  # nothing typed: the core says what it wants
        assert state.message.startswith("422: ")
        state.set_value("stripe", "no_such_field", "x" * 12)
        assert not state.save("stripe")
        assert state.message.startswith("422: ") and "no_such_field" in state.message
        (stripe,) = [p for p in PaymentKeysState(core).providers if p["provider"] == "stripe"]
        assert stripe["masked"] == {"secret_key": "sk_live_…9f3a"}


def test_a_manager_sees_the_masked_keys_without_inputs_or_save(db_settings: Settings) -> None:
    asyncio.run(seed_demo(db_settings))
    with core_api(db_settings, "owner") as core:
        owner = PaymentKeysState(core)
        owner.set_value("stripe", "secret_key", SECRET)
        assert owner.save("stripe")
    with core_api(db_settings, "manager") as core:
        state = PaymentKeysState(core)
        assert state.loaded
        models = _render(state, core, "manager")
        classes = _classes(models)
        assert "payment-keys-stripe" in classes
        assert not any(c.endswith("-save") and c.startswith("payment-keys-") for c in classes)
        assert "payment-keys-stripe-secret_key" not in classes
        assert not any(type(m).__name__ == "PasswordInput" for m in models)
        text = _texts(models)
        assert "sk_live_…9f3a" in text and "Only the owner" in text
        # The core refuses the manager anyway.
        state.set_value("stripe", "secret_key", "sk_live_managerTRIES0000")
        assert not state.save("stripe") and state.message.startswith("403: ")
