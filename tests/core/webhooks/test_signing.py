"""The signature receivers check (``kippu_contract.webhooks.verify``): genuine requests
pass; a changed body, signature, timestamp or event id, a stale timestamp or the wrong
secret fail. And end to end: a receiver still holding the secret from before a rotation
refuses the request, and the delivery is retried."""

from __future__ import annotations

import hashlib
import hmac
import time

import msgspec
import pytest

from kippu_contract.webhooks import (
    REPLAY_WINDOW_SECONDS,
    InvalidSignature,
    WebhookEvent,
    signature,
    signed_headers,
    verify,
)
from tests.support.aftersales import staff_headers
from tests.support.webhooks import Hooked, delivery_states

SECRET = "whsec_test-secret"
EVENT_ID = "6f1c3b9e-8d9a-4c57-9a43-0d1b2b6f0a11"
BODY = msgspec.json.encode(
    {
        "id": EVENT_ID,
        "type": "order.paid",
        "created_at": "2026-12-08T01:02:03Z",
        "facility": "kippu-adventure-park",
        "data": {"order_code": "ABCDEFGHJK", "total": 2000},
    }
)


def _headers(**changes: str) -> dict[str, str]:
    headers = signed_headers(SECRET, EVENT_ID, BODY)
    if changes.get("Kippu-Timestamp") == "earlier":  # a second before the one signed
        changes["Kippu-Timestamp"] = str(int(headers["Kippu-Timestamp"]) - 1)
    return {**headers, **changes}


def test_a_genuine_request_verifies_and_decodes() -> None:
    event = verify(SECRET, BODY, _headers())
    assert isinstance(event, WebhookEvent)
    assert (event.id, event.type, event.data["order_code"]) == (
        EVENT_ID,
        "order.paid",
        "ABCDEFGHJK",
    )
    lowered = {k.lower(): v for k, v in _headers().items()}  # header names in any case
    assert verify(SECRET, BODY, lowered).id == EVENT_ID


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    stamp = 1_800_000_000
    expected = hmac.new(SECRET.encode(), b"1800000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, stamp, BODY) == f"v1={expected}"


@pytest.mark.parametrize(
    ("body", "changes", "why"),
    [
        (BODY.replace(b"2000", b"1"), {}, "signature does not match"),
        (BODY, {"Kippu-Signature": "v1=" + "0" * 64}, "signature does not match"),
        (BODY, {"Kippu-Signature": "v0=abc"}, "signature does not match"),
        (BODY, {"Kippu-Timestamp": "earlier"}, "signature does not match"),
        (BODY, {"Kippu-Event-Id": "another"}, "event id"),
        (BODY, {"Kippu-Timestamp": "soon"}, "not a number"),
    ],
)
def test_a_tampered_request_fails(body: bytes, changes: dict[str, str], why: str) -> None:
    with pytest.raises(InvalidSignature, match=why):
        verify(SECRET, body, _headers(**changes))


def test_a_missing_header_fails() -> None:
    headers = _headers()
    del headers["Kippu-Signature"]
    with pytest.raises(InvalidSignature, match="missing Kippu-Signature"):
        verify(SECRET, BODY, headers)


def test_a_replay_outside_the_window_fails() -> None:
    old = int(time.time()) - REPLAY_WINDOW_SECONDS - 5
    headers = signed_headers(SECRET, EVENT_ID, BODY, timestamp=old)
    with pytest.raises(InvalidSignature, match="replay window"):
        verify(SECRET, BODY, headers)
    assert verify(SECRET, BODY, headers, tolerance=REPLAY_WINDOW_SECONDS + 60).id == EVENT_ID


def test_the_wrong_secret_fails_and_either_of_two_passes() -> None:
    with pytest.raises(InvalidSignature):
        verify("whsec_other", BODY, _headers())
    assert verify(["whsec_new", SECRET], BODY, _headers()).id == EVENT_ID


async def test_a_receiver_with_the_old_secret_refuses_until_it_has_the_new_one(
    hooked: Hooked,
) -> None:
    rotated = await hooked.client.post(
        f"/api/v1/webhooks/endpoints/{hooked.endpoint_id}/rotate-secret",
        headers=await staff_headers(hooked.client, hooked.demo, "manager"),
    )
    await hooked.sale()
    receiver = hooked.receiver  # still with the secret from before the rotation
    assert await hooked.deliver(webhook_retry_seconds=0) == 0
    assert [r.refusal for r in receiver.received] == ["the signature does not match"]
    assert await delivery_states(hooked.db_settings) == [("pending", 1)]
    receiver.secrets = [rotated.json()["secret"]]
    assert await hooked.deliver(webhook_retry_seconds=0) == 1
    assert [r.refusal for r in receiver.received] == ["the signature does not match", ""]
