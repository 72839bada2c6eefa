"""Contract tests of the Paidy adapter against its local fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core_service.payments.provider import NotificationRejected, ProviderUnavailable
from kippu_plugins.paidy_payments import PaidyProvider
from tests.support.fakes.paidy import PUBLIC_KEY, SECRET_KEY, FakePaidy
from tests.support.payments import FACILITY, fast_timeouts, serving, start_request

__all__ = ["fast_timeouts"]


@pytest.fixture
def fake() -> Iterator[FakePaidy]:
    fake = FakePaidy()
    yield fake
    assert fake.violations == []


@pytest.fixture
def paidy(fake: FakePaidy) -> Iterator[PaidyProvider]:
    with serving(fake) as url:
        yield PaidyProvider(
            FACILITY,
            {"secret_key": SECRET_KEY, "public_key": PUBLIC_KEY, "api_base": url},
            "http://127.0.0.1:8000",
        )


def _authorized(fake: FakePaidy, amount: int = 2000) -> str:
    return fake.authorize(
        amount, "ABCDEFGH23", {"kippu_payment_id": "41", "kippu_facility": FACILITY.slug}
    )


async def test_start_hands_paidy_checkout_what_it_needs(paidy: PaidyProvider) -> None:
    action = await paidy.start(start_request(method="paidy", amount=2000))
    assert action.kind == "client_confirm" and action.data["api_key"] == PUBLIC_KEY
    payload = action.data["payload"]
    assert payload["amount"] == 2000 and payload["currency"] == "JPY"
    assert payload["metadata"]["kippu_payment_id"] == "41"


async def test_authorized_payment_is_verified_and_captured_once(
    paidy: PaidyProvider, fake: FakePaidy
) -> None:
    paidy_id = _authorized(fake)
    event = await paidy.query_status(paidy_id)
    assert (event.state, event.amount, event.merchant_ref) == ("authorized", 2000, "41")
    captured = await paidy.capture(paidy_id, 2000, idempotency_key="cap-1")
    again = await paidy.capture(paidy_id, 2000, idempotency_key="cap-1")
    assert captured is not None and again is not None
    assert captured.state == again.state == "paid"
    assert len(fake.payments[paidy_id]["captures"]) == 1


async def test_capture_refuses_an_amount_that_differs(
    paidy: PaidyProvider, fake: FakePaidy
) -> None:
    from core_service.payments.provider import ProviderRejected

    with pytest.raises(ProviderRejected):
        await paidy.capture(_authorized(fake, 1500), 2000, idempotency_key="cap-1")


async def test_refund_is_idempotent_by_metadata_key(paidy: PaidyProvider, fake: FakePaidy) -> None:
    paidy_id = _authorized(fake)
    await paidy.capture(paidy_id, 2000, idempotency_key="cap-1")
    first = await paidy.refund(paidy_id, 1800, idempotency_key="ref-1")
    again = await paidy.refund(paidy_id, 1800, idempotency_key="ref-1")
    assert first.refund_ref == again.refund_ref and first.amount == 1800
    assert len(fake.payments[paidy_id]["refunds"]) == 1


async def test_close_gives_up_an_authorization(paidy: PaidyProvider, fake: FakePaidy) -> None:
    paidy_id = _authorized(fake)
    await paidy.cancel(paidy_id, idempotency_key="close-1")
    assert (await paidy.query_status(paidy_id)).state == "failed"


async def test_webhook_is_refetched_and_unknown_payments_are_rejected(
    paidy: PaidyProvider, fake: FakePaidy
) -> None:
    paidy_id = _authorized(fake)
    event = await paidy.handle_notification({}, fake.notification(paidy_id, "capture_success"))
    assert event is not None and event.state == "authorized"  # Paidy says: not captured
    with pytest.raises(NotificationRejected):
        await paidy.handle_notification({}, fake.notification("pay_forged"))


@pytest.mark.usefixtures("fast_timeouts")
async def test_timeouts_raise_provider_unavailable(paidy: PaidyProvider, fake: FakePaidy) -> None:
    fake.fail_next.extend(["timeout"] * 3)
    with pytest.raises(ProviderUnavailable):
        await paidy.query_status(_authorized(fake))
