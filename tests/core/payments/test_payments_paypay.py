"""Contract tests of the PayPay (Open Payment API) adapter against its local fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core_service.payments.provider import NotificationRejected, ProviderRejected
from kippu_plugins.paypay_payments import PayPayProvider, opa_auth_header
from tests.support.fakes.paypay import API_KEY, API_SECRET, MERCHANT_ID, FakePayPay
from tests.support.payments import FACILITY, serving, start_request


@pytest.fixture
def fake() -> Iterator[FakePayPay]:
    fake = FakePayPay()
    yield fake
    assert fake.violations == []


@pytest.fixture
def paypay(fake: FakePayPay) -> Iterator[PayPayProvider]:
    with serving(fake) as url:
        yield PayPayProvider(
            FACILITY,
            {
                "api_key": API_KEY,
                "api_secret": API_SECRET,
                "merchant_id": MERCHANT_ID,
                "api_base": url,
            },
            "http://127.0.0.1:8000",
        )


def test_opa_auth_header_follows_the_documented_construction() -> None:
    # Same inputs as PayPay's published sample: path, method, nonce, epoch, body.
    header = opa_auth_header(
        "APIKeyGenerated",
        "APIKeySecretGenerated",
        "POST",
        "/v2/codes",
        b'{"a":1}',
        nonce="acd028",
        epoch=1579843452,
    )
    prefix, key, mac, nonce, epoch, body_hash = header.split(":")
    assert (prefix, key, nonce, epoch) == (
        "hmac OPA-Auth",
        "APIKeyGenerated",
        "acd028",
        "1579843452",
    )
    assert len(body_hash) == 24 and len(mac) == 44  # base64 of MD5 and of SHA-256
    assert opa_auth_header("k", "s", "GET", "/v2/x?y=1", b"", nonce="n", epoch=1).endswith(
        ":n:1:empty"
    )


async def test_start_creates_dynamic_qr_for_a_unique_merchant_payment_id(
    paypay: PayPayProvider, fake: FakePayPay
) -> None:
    action = await paypay.start(start_request(method="paypay", amount=2000))
    assert action.kind == "qr" and action.url.startswith("https://")
    assert action.provider_ref == "kippu-7-41"
    assert fake.payments["kippu-7-41"]["amount"] == {"amount": 2000, "currency": "JPY"}


async def test_a_second_code_for_the_same_payment_is_refused(paypay: PayPayProvider) -> None:
    await paypay.start(start_request(method="paypay"))
    with pytest.raises(ProviderRejected):
        await paypay.start(start_request(method="paypay"))


async def test_status_polling_follows_the_payment(paypay: PayPayProvider, fake: FakePayPay) -> None:
    action = await paypay.start(start_request(method="paypay", amount=1000))
    assert (await paypay.query_status(action.provider_ref)).state == "pending"
    fake.pay(action.provider_ref)
    event = await paypay.query_status(action.provider_ref)
    assert (event.state, event.amount) == ("paid", 1000)


async def test_5xx_then_success_signs_each_attempt_afresh(
    paypay: PayPayProvider, fake: FakePayPay
) -> None:
    fake.fail_next.append("500")
    await paypay.start(start_request(method="paypay"))
    posts = fake.requests_to("POST", "/v2/codes")
    assert len(posts) == 2
    assert posts[0].headers["authorization"] != posts[1].headers["authorization"]


async def test_cancel_withdraws_an_unpaid_payment(paypay: PayPayProvider, fake: FakePayPay) -> None:
    action = await paypay.start(start_request(method="paypay"))
    await paypay.cancel(action.provider_ref, idempotency_key="c1")
    assert (await paypay.query_status(action.provider_ref)).state == "failed"


async def test_refund_uses_merchant_refund_id_and_is_idempotent(
    paypay: PayPayProvider, fake: FakePayPay
) -> None:
    action = await paypay.start(start_request(method="paypay", amount=2000))
    fake.pay(action.provider_ref)
    first = await paypay.refund(action.provider_ref, 1800, idempotency_key="kippu-refund-9")
    again = await paypay.refund(action.provider_ref, 1800, idempotency_key="kippu-refund-9")
    assert first.refund_ref == again.refund_ref == "kippu-refund-9"
    assert first.amount == 1800 and len(fake.refunds) == 1


async def test_notification_is_only_a_hint_the_status_is_refetched(
    paypay: PayPayProvider, fake: FakePayPay
) -> None:
    action = await paypay.start(start_request(method="paypay"))
    # Claims COMPLETED, but PayPay says CREATED: nothing is paid.
    event = await paypay.handle_notification({}, fake.notification(action.provider_ref))
    assert event is not None and event.state == "pending"
    fake.pay(action.provider_ref)
    event = await paypay.handle_notification({}, fake.notification(action.provider_ref))
    assert event is not None and event.state == "paid"
    assert fake.status_lookups(action.provider_ref) == 2  # each notification re-fetched


async def test_notification_for_another_merchant_is_rejected_without_a_lookup(
    paypay: PayPayProvider, fake: FakePayPay
) -> None:
    action = await paypay.start(start_request(method="paypay"))
    fake.pay(action.provider_ref)
    forged = fake.notification(action.provider_ref, merchant_id="999999999999999999")
    with pytest.raises(NotificationRejected):
        await paypay.handle_notification({}, forged)
    assert fake.status_lookups(action.provider_ref) == 0


async def test_notifications_other_than_transaction_events_are_ignored(
    paypay: PayPayProvider, fake: FakePayPay
) -> None:
    action = await paypay.start(start_request(method="paypay"))
    other = fake.notification(action.provider_ref, notification_type="Customer")
    assert await paypay.handle_notification({}, other) is None
    assert fake.status_lookups(action.provider_ref) == 0


async def test_a_notification_without_merchant_order_id_is_rejected(
    paypay: PayPayProvider,
) -> None:
    # Our request's name for the reference (merchantPaymentId) is not the event's.
    body = b'{"notification_type": "Transaction", "merchantPaymentId": "kippu-7-41"}'
    with pytest.raises(NotificationRejected):
        await paypay.handle_notification({}, body)


async def test_notifications_for_unknown_or_foreign_payments_are_rejected(
    paypay: PayPayProvider, fake: FakePayPay
) -> None:
    with pytest.raises(NotificationRejected):
        await paypay.handle_notification({}, fake.notification("kippu-7-999"))
    with pytest.raises(NotificationRejected):
        await paypay.handle_notification({}, fake.notification("kippu-8-41"))
    with pytest.raises(NotificationRejected):
        await paypay.handle_notification({}, b"not json")
