"""The Square Terminal adapter against a local fake of Square's API (tests/support/fakes/square.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import httpx
import pytest

from kiosk_driver.errors import (
    ConfigError,
    OrderConflict,
    PaymentCancelled,
    PaymentFailed,
    PaymentTimeout,
    PaymentUnknown,
)
from kiosk_driver.sale_state import SaleState
from kiosk_driver.terminal import open_terminal
from kiosk_driver.terminals.square import SquareTerminal, verify_webhook
from kippu_contract.v1.kiosk import OrderLineIn
from tests.support.fakes.square import DEVICE, TOKEN, VERSION, FakeSquare
from tests.support.kiosk import FakeCore, make_kiosk


def _terminal(fake: FakeSquare, **kwargs: object) -> SquareTerminal:
    kwargs.setdefault("sleep", lambda _: None)
    return SquareTerminal(
        TOKEN,
        DEVICE,
        base_url="https://square.test",
        transport=fake.transport(),
        **kwargs,  # type: ignore[arg-type]
    )


def _bodies(fake: FakeSquare, path: str) -> list[dict]:
    return [json.loads(c.content) for c in fake.calls if c.url.path == path and c.content]


def test_approved_checkout_sends_what_square_documents(tmp_path: Path) -> None:
    fake = FakeSquare()
    result = _terminal(fake).charge(3600, "card", "sale-key-1")
    assert result.reference == "PAY-CHK0001" and result.amount == 3600
    [body] = _bodies(fake, "/v2/terminals/checkouts")
    assert body["idempotency_key"] == "sale-key-1"
    assert body["checkout"]["amount_money"] == {"amount": 3600, "currency": "JPY"}
    assert body["checkout"]["device_options"]["device_id"] == DEVICE
    assert body["checkout"]["payment_type"] == "CARD_PRESENT"
    assert all(c.headers["Square-Version"] == VERSION for c in fake.calls)
    assert all(c.headers["Authorization"] == f"Bearer {TOKEN}" for c in fake.calls)
    assert fake.violations == []


@pytest.mark.parametrize(("method", "payment_type"), [("emoney", "FELICA_ALL"), ("qr", "QR_CODE")])
def test_each_kiosk_method_maps_to_a_square_payment_type(method: str, payment_type: str) -> None:
    fake = FakeSquare()
    _terminal(fake).charge(1800, method, f"key-{method}")
    assert _bodies(fake, "/v2/terminals/checkouts")[0]["checkout"]["payment_type"] == payment_type


def test_declined_card_takes_no_money() -> None:
    fake = FakeSquare(outcome="decline")
    with pytest.raises(PaymentFailed):
        _terminal(fake).charge(1800, "card", "k-decline")
    assert fake.charged() == []


def test_square_timeout_is_a_payment_timeout() -> None:
    with pytest.raises(PaymentTimeout):
        _terminal(FakeSquare(outcome="timeout")).charge(1800, "card", "k-timeout")


def test_visitor_cancel_cancels_the_checkout_at_square() -> None:
    fake = FakeSquare(outcome="wait")
    polls = []

    def sleep(_: float) -> None:
        polls.append(1)
        if len(polls) == 2:
            terminal.cancel()  # the visitor presses Cancel while the terminal waits

    terminal = _terminal(fake, sleep=sleep)
    with pytest.raises(PaymentCancelled):
        terminal.charge(1800, "card", "k-cancel")
    [checkout] = fake.checkouts.values()
    assert checkout["cancel_reason"] == "SELLER_CANCELED"
    assert any(c.url.path.endswith("/cancel") for c in fake.calls)


def test_our_deadline_cancels_a_checkout_nobody_answers() -> None:
    fake = FakeSquare(outcome="wait")
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += 100

    terminal = _terminal(fake, sleep=sleep, clock=lambda: now[0], deadline_seconds=250)
    with pytest.raises(PaymentTimeout):
        terminal.charge(1800, "card", "k-deadline")
    assert fake.charged() == []


def test_approval_then_lost_connection_is_unknown_and_found_after_restart(tmp_path: Path) -> None:
    fake = FakeSquare(outcome="drop")
    state = tmp_path / "square.json"
    with pytest.raises(PaymentUnknown):  # never "failed": the visitor may have paid
        _terminal(fake, state_path=state).charge(1800, "card", "k-drop")
    assert len(fake.charged()) == 1
    fake.reconnect()
    restarted = _terminal(fake, state_path=state)
    found = restarted.find("k-drop")
    assert found is not None and found.reference == "PAY-CHK0001" and found.amount == 1800
    # Without the local state the adapter still finds it by searching Square.
    assert _terminal(fake).find("k-drop") is not None
    assert _terminal(fake).find("never-sent") is None


def test_retried_create_after_a_lost_response_reuses_the_checkout() -> None:
    fake = FakeSquare()
    lost = [True]

    def flaky(request: httpx.Request) -> httpx.Response:
        response = fake(request)
        if lost[0] and request.url.path == "/v2/terminals/checkouts":
            lost[0] = False
            raise httpx.ReadTimeout("response lost", request=request)
        return response

    terminal = SquareTerminal(
        TOKEN,
        DEVICE,
        base_url="https://square.test",
        transport=httpx.MockTransport(flaky),
        sleep=lambda _: None,
    )
    terminal.charge(1800, "card", "k-retry")
    assert len(fake.checkouts) == 1 and len(_bodies(fake, "/v2/terminals/checkouts")) == 2


def test_void_refunds_once_with_an_idempotency_key() -> None:
    fake = FakeSquare()
    terminal = _terminal(fake)
    payment = terminal.charge(1800, "card", "k-void")
    terminal.void(payment.reference)  # amount looked up at Square
    terminal.void(payment.reference, 1800)
    assert len(fake.refunds) == 1
    [refund] = fake.refunds.values()
    assert refund["amount_money"] == {"amount": 1800, "currency": "JPY"}
    assert fake.violations == []


def test_kiosk_sale_over_square_and_refund_when_the_core_refuses(tmp_path: Path) -> None:
    fake = FakeSquare()
    kiosk = make_kiosk(FakeCore(), tmp_path, terminal=_terminal(fake))
    result = kiosk.sell([OrderLineIn(100, 2)], "emoney", {"waiver": True})
    assert result.printed and kiosk.journal.get(result.sale_id).payment_ref == "PAY-CHK0001"
    refusing = make_kiosk(FakeCore(conflict="sold out"), tmp_path / "b", terminal=_terminal(fake))
    with pytest.raises(OrderConflict):
        refusing.sell([OrderLineIn(100, 1)], "card", {"waiver": True})
    assert len(fake.refunds) == 1 and len(refusing.journal.in_state(SaleState.VOIDED)) == 1
    assert fake.violations == []


def test_kiosk_resumes_a_sale_whose_approval_was_lost(tmp_path: Path) -> None:
    fake = FakeSquare(outcome="drop")
    core = FakeCore()
    kiosk = make_kiosk(core, tmp_path, terminal=_terminal(fake, state_path=tmp_path / "sq.json"))
    with pytest.raises(PaymentUnknown):
        kiosk.sell([OrderLineIn(100, 1)], "card", {"waiver": True})
    [record] = kiosk.journal.in_state(SaleState.STARTED)  # not written off as failed
    fake.reconnect()
    report = kiosk.resume()
    assert report.printed == [record.id] and len(core.orders) == 1 and len(fake.checkouts) == 1


def test_webhook_signature_is_hmac_sha256_of_url_and_body() -> None:
    body = b'{"type":"terminal.checkout.updated"}'
    url = "https://kiosk.example/square"
    good = base64.b64encode(
        hmac.new(b"sig-key", url.encode() + body, hashlib.sha256).digest()
    ).decode()
    assert verify_webhook("sig-key", url, body, good)
    assert not verify_webhook("sig-key", url, body + b" ", good)


def test_square_spec_needs_a_token_and_device() -> None:
    with pytest.raises(ConfigError):
        open_terminal("square", {})
    terminal = open_terminal(
        "square:DEV1", {"SQUARE_ACCESS_TOKEN": "t", "SQUARE_ENVIRONMENT": "sandbox"}
    )
    assert isinstance(terminal, SquareTerminal) and terminal.device_id == "DEV1"
