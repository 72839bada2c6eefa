"""Square Terminal over the Square Terminal API (httpx), as a :class:`PaymentTerminal`.

The kiosk asks Square's cloud to show a checkout on a paired Square Terminal, then polls
the checkout until it is COMPLETED or CANCELED (the kiosk listens on 127.0.0.1, so
Square's ``terminal.checkout.updated`` webhook usually cannot reach it; a deployment that
forwards webhooks can feed them to :meth:`SquareTerminal.handle_webhook` to skip polls).

Endpoints used (Square API reference, Terminal and Refunds APIs):

=========================================  ===========================================
``POST /v2/terminals/checkouts``           create; body carries ``idempotency_key``
``GET  /v2/terminals/checkouts/{id}``      poll: PENDING, IN_PROGRESS, CANCEL_REQUESTED,
                                           CANCELED (``cancel_reason``), COMPLETED
``POST /v2/terminals/checkouts/{id}/cancel``  the visitor pressed Cancel on the screen
``POST /v2/terminals/checkouts/search``    crash recovery: find a checkout by our key
``POST /v2/refunds``                       void/refund; ``idempotency_key`` in the body
``GET  /v2/payments/{id}``                 the amount to refund when the caller has none
=========================================  ===========================================

``/v2/terminals/refunds`` exists too, but Square documents it for Canadian Interac only;
every other Terminal payment is refunded through the Refunds API, so that is what we use.

Payment types (``payment_type``): card → ``CARD_PRESENT``; e-money (交通系IC, iD,
QUICPay) → ``FELICA_ALL``, which lets the visitor pick the brand on the terminal; QR
code payments (PayPay and the other wallets of the location) → ``QR_CODE``. Amounts are
integer yen with currency ``JPY`` (the yen has no minor unit).

Every create and refund carries an idempotency key derived from the sale id, so a retry
after a lost response finds the same checkout or refund instead of charging twice. Cancel
and GET have no body and are idempotent by nature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from kiosk_driver.errors import (
    ConfigError,
    PaymentCancelled,
    PaymentDeclined,
    PaymentFailed,
    PaymentTimeout,
    PaymentUnknown,
    TerminalUnavailable,
)
from kiosk_driver.terminal import PaymentResult, PaymentTerminal

log = logging.getLogger(__name__)

PRODUCTION = "https://connect.squareup.com"
SANDBOX = "https://connect.squareupsandbox.com"
SQUARE_VERSION = "2025-04-16"  # pinned: a new version is a deliberate, tested upgrade
PAYMENT_TYPES = {"card": "CARD_PRESENT", "emoney": "FELICA_ALL", "qr": "QR_CODE"}
FINAL = ("COMPLETED", "CANCELED")


def verify_webhook(signature_key: str, notification_url: str, body: bytes, signature: str) -> bool:
    """Check ``x-square-hmacsha256-signature``: base64 HMAC-SHA256 of URL + raw body."""
    digest = hmac.new(signature_key.encode(), notification_url.encode() + body, hashlib.sha256)
    return hmac.compare_digest(base64.b64encode(digest.digest()).decode(), signature)


class SquareTerminal(PaymentTerminal):
    """One paired Square Terminal (``device_id``) used by one kiosk."""

    def __init__(
        self,
        access_token: str,
        device_id: str,
        *,
        base_url: str = PRODUCTION,
        square_version: str = SQUARE_VERSION,
        transport: httpx.BaseTransport | None = None,
        poll_interval: float = 1.0,
        deadline_seconds: float = 330.0,  # Square cancels PENDING checkouts after 5 min
        lost_after: int = 5,  # consecutive failed polls before the outcome is "unknown"
        state_path: Path | None = None,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device_id = device_id
        self.poll_interval = poll_interval
        self.deadline_seconds = deadline_seconds
        self.lost_after = lost_after
        self.state_path = state_path
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {access_token}",
                "Square-Version": square_version,
                "Accept": "application/json",
            },
        )
        self._cancel = threading.Event()
        self._pushed: dict[str, dict[str, Any]] = {}  # checkout id -> webhook copy
        self._healthy = True
        # Our sale key -> Square checkout id, on disk so a restarted kiosk can look it up.
        self._checkouts: dict[str, str] = {}
        if state_path is not None and state_path.exists():
            self._checkouts = json.loads(state_path.read_text(encoding="utf-8"))

    # -- HTTP --------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One API call; TransportError propagates (the caller knows if money may move)."""
        response = self._http.request(method, path, json=body)
        self._healthy = True
        if response.status_code >= 500 or response.status_code == 429:
            raise httpx.RemoteProtocolError(f"square {response.status_code}")
        data: dict[str, Any] = response.json() if response.content else {}
        if response.status_code >= 400:
            errors = data.get("errors") or [{"code": str(response.status_code)}]
            detail = "; ".join(f"{e.get('code')}: {e.get('detail', '')}" for e in errors)
            raise TerminalUnavailable(f"square refused {method} {path}: {detail}")
        return data

    def _remember(self, key: str, checkout_id: str) -> None:
        self._checkouts[key] = checkout_id
        if self.state_path is not None:
            tmp = self.state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._checkouts), encoding="utf-8")
            os.replace(tmp, self.state_path)

    # -- the terminal interface ---------------------------------------------------------

    def charge(self, amount: int, method: str, idempotency_key: str) -> PaymentResult:
        if method not in PAYMENT_TYPES:
            raise PaymentFailed(f"Square Terminal cannot take {method!r}")
        if amount <= 0:
            raise PaymentFailed(f"nothing to charge: {amount}")
        self._cancel.clear()
        body = {
            "idempotency_key": idempotency_key,
            "checkout": {
                "amount_money": {"amount": int(amount), "currency": "JPY"},
                "reference_id": idempotency_key,
                "note": "kippu kiosk",
                "payment_type": PAYMENT_TYPES[method],
                "device_options": {"device_id": self.device_id, "skip_receipt_screen": True},
            },
        }
        checkout = self._create(body)
        self._remember(idempotency_key, checkout["id"])
        return self._wait(checkout, amount, method)

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(3):
            try:
                created: dict[str, Any] = self._call("POST", "/v2/terminals/checkouts", body)[
                    "checkout"
                ]
                return created
            except httpx.TransportError as exc:
                # Same idempotency key on retry: Square returns the same checkout.
                log.warning("square create attempt %d: %r", attempt + 1, exc)
                self._sleep(self.poll_interval)
        self._healthy = False
        # The checkout may exist and show on the terminal: not "failed", but unknown.
        raise PaymentUnknown("Square did not answer the checkout request")

    def _wait(self, checkout: dict[str, Any], amount: int, method: str) -> PaymentResult:
        checkout_id = checkout["id"]
        deadline = self._clock() + self.deadline_seconds
        failures, cancel_sent, timed_out = 0, False, False
        while checkout.get("status") not in FINAL:
            timed_out = timed_out or self._clock() > deadline
            if (self._cancel.is_set() or timed_out) and not cancel_sent:
                cancel_sent = self._request_cancel(checkout_id)
            self._sleep(self.poll_interval)
            try:
                checkout = (
                    self._pushed.pop(checkout_id, {})
                    or self._call("GET", f"/v2/terminals/checkouts/{checkout_id}")["checkout"]
                )
                failures = 0
            except httpx.TransportError as exc:
                failures += 1
                if failures >= self.lost_after:
                    self._healthy = False
                    raise PaymentUnknown(f"lost Square while waiting: {exc!r}") from exc
            if checkout.get("status") not in FINAL and self._clock() > deadline + 60:
                raise PaymentUnknown("Square checkout did not finish in time")
        if timed_out and checkout["status"] == "CANCELED":
            self._cancel.clear()
            raise PaymentTimeout("the visitor did not pay before our deadline")
        return self._outcome(checkout, amount, method)

    def _request_cancel(self, checkout_id: str) -> bool:
        try:
            self._call("POST", f"/v2/terminals/checkouts/{checkout_id}/cancel")
        except (httpx.TransportError, TerminalUnavailable) as exc:
            # e.g. already COMPLETED: the poll tells us what really happened.
            log.warning("square cancel of %s: %s", checkout_id, exc)
            return False
        return True

    def _outcome(self, checkout: dict[str, Any], amount: int, method: str) -> PaymentResult:
        self._cancel.clear()
        if checkout["status"] == "COMPLETED":
            return PaymentResult(
                reference=checkout["payment_ids"][0],
                amount=amount,
                method=method,
                approved_at=datetime.now(UTC),
            )
        reason = checkout.get("cancel_reason", "")
        if reason == "TIMED_OUT":
            raise PaymentTimeout("no card presented before the Square deadline")
        if reason in ("BUYER_CANCELED", "SELLER_CANCELED"):
            raise PaymentCancelled(f"Square checkout cancelled ({reason})")
        raise PaymentDeclined(f"Square checkout ended: {reason or 'declined'}")

    def cancel(self) -> None:
        self._cancel.set()

    def void(self, reference: str, amount: int | None = None) -> None:
        try:
            if amount is None:
                payment = self._call("GET", f"/v2/payments/{reference}")["payment"]
                amount = int(payment["amount_money"]["amount"])
            refund = self._call(
                "POST",
                "/v2/refunds",
                {
                    # Derived from the payment: a retried void finds the same refund.
                    "idempotency_key": f"kippu-void-{reference}",
                    "payment_id": reference,
                    "amount_money": {"amount": int(amount), "currency": "JPY"},
                    "reason": "kippu kiosk: order refused by the core",
                },
            )["refund"]
        except httpx.TransportError as exc:
            raise TerminalUnavailable(f"Square unreachable for refund: {exc!r}") from exc
        if refund.get("status") in ("REJECTED", "FAILED"):
            raise PaymentFailed(f"Square refund {refund.get('id')} {refund['status']}")

    def find(self, idempotency_key: str) -> PaymentResult | None:
        try:
            checkout_id = self._checkouts.get(idempotency_key) or self._search(idempotency_key)
            if checkout_id is None:
                return None  # Square never saw this sale: no money moved
            checkout = self._call("GET", f"/v2/terminals/checkouts/{checkout_id}")["checkout"]
        except httpx.TransportError as exc:
            raise TerminalUnavailable(f"Square unreachable: {exc!r}") from exc
        if checkout["status"] == "COMPLETED":
            money = checkout["amount_money"]
            return PaymentResult(
                checkout["payment_ids"][0], int(money["amount"]), "", datetime.now(UTC)
            )
        if checkout["status"] == "CANCELED":
            return None
        raise TerminalUnavailable(f"checkout {checkout_id} still {checkout['status']}")

    def _search(self, key: str) -> str | None:
        body: dict[str, Any] = {"query": {"filter": {"device_id": self.device_id}}, "limit": 100}
        while True:
            page = self._call("POST", "/v2/terminals/checkouts/search", body)
            for checkout in page.get("checkouts", []):
                if checkout.get("reference_id") == key:
                    self._remember(key, checkout["id"])
                    return str(checkout["id"])
            if not page.get("cursor"):
                return None
            body["cursor"] = page["cursor"]

    def status(self) -> Literal["ok", "offline"]:
        return "ok" if self._healthy else "offline"

    def handle_webhook(self, payload: Mapping[str, Any]) -> None:
        """Apply a verified ``terminal.checkout.updated`` event (saves a poll)."""
        if payload.get("type") != "terminal.checkout.updated":
            return
        checkout = payload.get("data", {}).get("object", {}).get("checkout")
        if isinstance(checkout, dict) and "id" in checkout:
            self._pushed[checkout["id"]] = checkout


def from_options(device_id: str, options: Mapping[str, str]) -> SquareTerminal:
    """``square:DEVICE_ID`` with KIPPU_KIOSK_SQUARE_ACCESS_TOKEN (and optional
    SQUARE_ENVIRONMENT=sandbox, SQUARE_VERSION, SQUARE_STATE, SQUARE_POLL_SECONDS)."""
    device_id = device_id or options.get("SQUARE_DEVICE_ID", "")
    token = options.get("SQUARE_ACCESS_TOKEN", "")
    if not device_id or not token:
        raise ConfigError(
            "square terminal needs a device id (square:DEVICE_ID) and "
            "KIPPU_KIOSK_SQUARE_ACCESS_TOKEN"
        )
    environment = options.get("SQUARE_ENVIRONMENT", "production")
    if environment not in ("production", "sandbox"):
        raise ConfigError("KIPPU_KIOSK_SQUARE_ENVIRONMENT must be production or sandbox")
    state = options.get("SQUARE_STATE")
    try:
        poll = float(options.get("SQUARE_POLL_SECONDS", "1"))
    except ValueError as exc:
        raise ConfigError("KIPPU_KIOSK_SQUARE_POLL_SECONDS must be a number") from exc
    return SquareTerminal(
        token,
        device_id,
        base_url=SANDBOX if environment == "sandbox" else PRODUCTION,
        square_version=options.get("SQUARE_VERSION", SQUARE_VERSION),
        poll_interval=poll,
        state_path=Path(state) if state else None,
    )
