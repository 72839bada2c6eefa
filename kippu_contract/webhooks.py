"""Outgoing webhooks as a receiver sees them: the event names, the envelope, the headers,
and the HMAC-SHA256 signature, with the one verification helper receivers (and kippu's
own tests) use.

The core POSTs each event as a JSON body (the :class:`WebhookEvent` envelope) with::

    Kippu-Event-Id:  <the event's UUID; the same on every retry>
    Kippu-Timestamp: <UNIX seconds when this attempt was signed>
    Kippu-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

A receiver checks the signature over the raw body bytes *before* parsing them, refuses
timestamps outside its replay window, and keeps the event ids it has handled (an event
may arrive more than once after a timeout or a crash, never with another id):

    from kippu_contract.webhooks import InvalidSignature, verify

    try:
        event = verify(secret, raw_body, request.headers)
    except InvalidSignature:
        return 400

See docs/webhooks.md for every event's fields. Only the standard library and msgspec.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

ORDER_PAID = "order.paid"
ORDER_CANCELLED = "order.cancelled"
ORDER_REFUNDED = "order.refunded"
TICKET_REDEEMED = "ticket.redeemed"
PASS_ISSUED = "pass.issued"
#: Every event type an endpoint may subscribe to, in the order the docs list them.
EVENT_TYPES = (ORDER_PAID, ORDER_CANCELLED, ORDER_REFUNDED, TICKET_REDEEMED, PASS_ISSUED)

EVENT_ID_HEADER = "Kippu-Event-Id"
TIMESTAMP_HEADER = "Kippu-Timestamp"
SIGNATURE_HEADER = "Kippu-Signature"
#: The scheme of the signature; a header may carry several (``v1=a,v1=b``).
SIGNATURE_SCHEME = "v1"
#: Seconds a signed attempt stays acceptable by default (either side of the receiver's
#: clock): a replay of a captured request later than this is refused.
REPLAY_WINDOW_SECONDS = 300


class WebhookEvent(msgspec.Struct, frozen=True):
    """The JSON body of every webhook: thin, with ids and codes, never personal data."""

    #: UUID of the event: the same in the ``Kippu-Event-Id`` header and on every retry.
    id: str
    #: One of :data:`EVENT_TYPES`.
    type: str
    #: When the state change happened (UTC, ISO 8601).
    created_at: dt.datetime
    #: The facility's slug.
    facility: str
    #: The event's fields (order code, ticket ids, amounts; see docs/webhooks.md).
    data: dict[str, Any]


class InvalidSignature(Exception):
    """The request is not a genuine, fresh webhook from kippu; ``str()`` says why."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 with ``secret`` over ``f"{timestamp}.{body}"``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_SCHEME}={mac.hexdigest()}"


def signed_headers(
    secret: str, event_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers of one delivery attempt of ``body``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: signature(secret, stamp, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; HTTP header names are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    if not value:
        raise InvalidSignature(f"missing {name} header")
    return value


def verify(
    secret: str | Sequence[str],
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: int = REPLAY_WINDOW_SECONDS,
    now: float | None = None,
) -> WebhookEvent:
    """Check a received webhook and return its event; raises :class:`InvalidSignature`.

    ``secret`` may be several secrets (the new and the old one while a rotation is rolled
    out). ``body`` is the raw request body, exactly as received. The timestamp must be
    within ``tolerance`` seconds of ``now`` (default: this machine's clock), and the
    event id in the body must be the one in the header."""
    stamp_text = _header(headers, TIMESTAMP_HEADER)
    try:
        stamp = int(stamp_text)
    except ValueError:
        raise InvalidSignature("the timestamp is not a number") from None
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        raise InvalidSignature("the timestamp is outside the replay window")
    offered = [
        part.strip()
        for part in _header(headers, SIGNATURE_HEADER).split(",")
        if part.strip().startswith(f"{SIGNATURE_SCHEME}=")
    ]
    secrets = [secret] if isinstance(secret, str) else list(secret)
    expected = [signature(s, stamp, body) for s in secrets]
    # compare_digest for every pair: no early exit that would time the right prefix.
    if not any(hmac.compare_digest(e, o) for e in expected for o in offered):
        raise InvalidSignature("the signature does not match")
    try:
        event = msgspec.json.decode(body, type=WebhookEvent)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
        raise InvalidSignature(f"the body is not a webhook event: {exc}") from exc
    if event.id != _header(headers, EVENT_ID_HEADER):
        raise InvalidSignature("the event id of the body is not the header's")
    return event
