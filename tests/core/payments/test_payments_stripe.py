"""Contract tests of the Stripe adapter against the local fake of Stripe's API."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from core_service.payments.provider import (
    NotificationRejected,
    PaymentDeclined,
    ProviderUnavailable,
)
from kippu_plugins.stripe_payments import StripeProvider, verify_signature
from tests.support.fakes.stripe import (
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    signed,
)
from tests.support.payments import FACILITY, fast_timeouts, serving, start_request

__all__ = ["fast_timeouts"]


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    yield fake
    assert fake.violations == []


@pytest.fixture
def stripe(fake: FakeStripe) -> Iterator[StripeProvider]:
    with serving(fake) as url:
        yield StripeProvider(
            FACILITY,
            {
                "secret_key": SECRET_KEY,
                "publishable_key": PUBLISHABLE_KEY,
                "webhook_secret": WEBHOOK_SECRET,
                "api_base": url,
            },
            "http://127.0.0.1:8000",
        )


async def test_card_creates_payment_intent_for_stripe_js(
    stripe: StripeProvider, fake: FakeStripe
) -> None:
    action = await stripe.start(start_request(method="card", amount=3800))
    assert action.kind == "client_confirm"
    assert action.provider_ref.startswith("pi_")
    assert action.data["client_secret"].startswith(action.provider_ref)
    assert action.data["publishable_key"] == PUBLISHABLE_KEY
    assert fake.intents[action.provider_ref]["amount"] == 3800


async def test_start_twice_for_one_payment_reuses_the_idempotency_key(
    stripe: StripeProvider, fake: FakeStripe
) -> None:
    first = await stripe.start(start_request(method="card"))
    second = await stripe.start(start_request(method="card"))
    assert first.provider_ref == second.provider_ref
    assert len(fake.intents) == 1


async def test_konbini_returns_slip_with_deadline_and_store_numbers(stripe: StripeProvider) -> None:
    action = await stripe.start(start_request(method="konbini", amount=2000))
    assert action.kind == "konbini"
    assert action.url.startswith("https://")
    assert action.data["expires_at"] > time.time()
    assert action.data["stores"]["lawson"]["confirmation_number"]


async def test_paypay_via_stripe_redirects_to_paypay(stripe: StripeProvider) -> None:
    action = await stripe.start(start_request(method="paypay"))
    assert action.kind == "redirect" and action.url.startswith("https://")


async def test_card_declined_raises_payment_declined(
    stripe: StripeProvider, fake: FakeStripe
) -> None:
    fake.decline_next = True
    with pytest.raises(PaymentDeclined) as info:
        await stripe.start(start_request(method="konbini"))
    assert info.value.extra["decline_code"] == "generic_decline"


async def test_5xx_is_retried_with_the_same_idempotency_key(
    stripe: StripeProvider, fake: FakeStripe
) -> None:
    fake.fail_next.extend(["500"])
    action = await stripe.start(start_request(method="card"))
    posts = fake.requests_to("POST", "/v1/payment_intents")
    assert len(posts) == 2
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert posts[0].body == posts[1].body
    assert len(fake.intents) == 1 and action.provider_ref in fake.intents


@pytest.mark.usefixtures("fast_timeouts")
async def test_timeouts_end_in_provider_unavailable_with_bilingual_message(
    stripe: StripeProvider, fake: FakeStripe
) -> None:
    fake.fail_next.extend(["timeout"] * 3)
    with pytest.raises(ProviderUnavailable) as info:
        await stripe.start(start_request(method="card"))
    assert "二重" in info.value.message("ja") and "twice" in info.value.message("en")
    # The visitor retries: the same key gives one PaymentIntent, not two.
    action = await stripe.start(start_request(method="card"))
    assert len(fake.intents) == 1 and action.provider_ref in fake.intents


async def test_query_status_reports_paid_after_success(
    stripe: StripeProvider, fake: FakeStripe
) -> None:
    action = await stripe.start(start_request(method="card", amount=1800))
    assert (await stripe.query_status(action.provider_ref)).state == "pending"
    fake.succeed(action.provider_ref)
    event = await stripe.query_status(action.provider_ref)
    assert (event.state, event.amount, event.merchant_ref) == ("paid", 1800, "41")


async def test_refund_of_base_price_is_idempotent(stripe: StripeProvider, fake: FakeStripe) -> None:
    action = await stripe.start(start_request(method="card", amount=2000))
    fake.succeed(action.provider_ref)
    first = await stripe.refund(action.provider_ref, 1800, idempotency_key="refund-1")
    again = await stripe.refund(action.provider_ref, 1800, idempotency_key="refund-1")
    assert first.refund_ref == again.refund_ref and first.amount == 1800
    assert first.state == "refunded" and len(fake.refunds) == 1


async def test_signed_webhook_becomes_a_verified_event(
    stripe: StripeProvider, fake: FakeStripe
) -> None:
    action = await stripe.start(start_request(method="card", amount=1000))
    fake.succeed(action.provider_ref)
    body, headers = signed(fake.event(action.provider_ref, "payment_intent.succeeded"))
    event = await stripe.handle_notification({k.lower(): v for k, v in headers.items()}, body)
    assert event is not None
    assert (event.provider_ref, event.state, event.amount) == (action.provider_ref, "paid", 1000)


async def test_forged_and_replayed_webhooks_are_rejected(
    stripe: StripeProvider, fake: FakeStripe
) -> None:
    action = await stripe.start(start_request(method="card"))
    fake.succeed(action.provider_ref)
    event = fake.event(action.provider_ref, "payment_intent.succeeded")
    forged, forged_headers = signed(event, secret="whsec_attacker")
    with pytest.raises(NotificationRejected):
        await stripe.handle_notification(
            {"stripe-signature": forged_headers["Stripe-Signature"]}, forged
        )
    old, old_headers = signed(event, timestamp=int(time.time()) - 3600)
    with pytest.raises(NotificationRejected, match="tolerance"):
        await stripe.handle_notification({"stripe-signature": old_headers["Stripe-Signature"]}, old)


def test_signature_accepts_any_matching_v1_and_refuses_a_changed_body() -> None:
    body, headers = signed({"id": "evt_1"})
    t = headers["Stripe-Signature"].split(",")[0]
    good = headers["Stripe-Signature"].split(",")[1]
    verify_signature(body, f"{t},v1=00ff,{good}", WEBHOOK_SECRET)
    with pytest.raises(NotificationRejected):
        verify_signature(body + b" ", headers["Stripe-Signature"], WEBHOOK_SECRET)
