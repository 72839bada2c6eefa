"""Fake of the Stripe API subset kippu uses: PaymentIntents, refunds, signed webhooks.

Checks: ``Authorization: Bearer <secret key>``; form-encoded bodies; ``amount`` an integer
of yen and ``currency=jpy``; an ``Idempotency-Key`` on every POST, replayed like Stripe
does (same key + same body → the first answer; same key + other body → 400
``idempotency_error``). Answers have the shapes of Stripe's API reference (PaymentIntent
objects with ``next_action.konbini_display_details`` / ``redirect_to_url``, refund
objects, ``card_error`` with ``card_declined``). Webhook events are signed with
Stripe's v1 scheme (HMAC-SHA256 of "<t>.<body>").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from tests.support.fakes import FakeAPI, Recorded, require

SECRET_KEY = "sk_test_kippuFAKE0000000000009f3a"
PUBLISHABLE_KEY = "pk_test_kippuFAKE000000000000"
WEBHOOK_SECRET = "whsec_kippuFAKEwebhooksecret"


@dataclass
class FakeStripe(FakeAPI):
    secret_key: str = SECRET_KEY
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotent: dict[str, tuple[bytes, int, Any]] = field(default_factory=dict)
    decline_next: bool = False

    async def handle(self, request: Recorded) -> tuple[int, Any]:
        require(
            request.headers.get("authorization") == f"Bearer {self.secret_key}",
            "Authorization must be 'Bearer <secret key>'",
        )
        path = request.path.split("?")[0]
        if request.method == "GET":
            intent = self.intents.get(path.removeprefix("/v1/payment_intents/"))
            if not path.startswith("/v1/payment_intents/") or intent is None:
                return 404, _error("invalid_request_error", "resource_missing")
            return 200, intent
        require(request.method == "POST", f"unexpected method {request.method}")
        require(
            request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"),
            "Stripe takes form-encoded bodies",
        )
        key = request.headers.get("idempotency-key", "")
        require(bool(key), "every POST must carry an Idempotency-Key")
        if key in self.idempotent:
            body, status, answer = self.idempotent[key]
            if body != request.body:
                return 400, _error("idempotency_error", "idempotency_key_in_use")
            return status, answer
        form = parse_qsl(request.body.decode(), keep_blank_values=True)
        status, answer = self._post(path, dict(form), form)
        if status < 500:
            self.idempotent[key] = (request.body, status, answer)
        return status, answer

    def _post(
        self, path: str, params: dict[str, str], form: list[tuple[str, str]]
    ) -> tuple[int, Any]:
        if path == "/v1/payment_intents":
            return self._create_intent(params, form)
        if path == "/v1/refunds":
            return self._refund(params)
        intent_id, _, action = path.removeprefix("/v1/payment_intents/").partition("/")
        intent = self.intents.get(intent_id)
        if intent is None:
            return 404, _error("invalid_request_error", "resource_missing")
        if action == "cancel":
            intent["status"] = "canceled"
            return 200, intent
        if action == "capture":
            require(params.get("amount_to_capture", "").isdigit(), "amount_to_capture in yen")
            intent.update(status="succeeded", amount_received=int(params["amount_to_capture"]))
            return 200, intent
        return 404, _error("invalid_request_error", "resource_missing")

    def _create_intent(
        self, params: dict[str, str], form: list[tuple[str, str]]
    ) -> tuple[int, Any]:
        require(params.get("amount", "").isdigit(), "amount must be an integer (yen)")
        require(params.get("currency") == "jpy", "currency must be jpy")
        types = [v for k, v in form if k == "payment_method_types[]"]
        require(
            len(types) == 1 and types[0] in ("card", "konbini", "paypay"),
            f"payment_method_types[] {types}",
        )
        require(bool(params.get("metadata[kippu_payment_id]")), "metadata names the payment")
        if self.decline_next:
            self.decline_next = False
            return 402, {
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "generic_decline",
                    "message": "Your card was declined.",
                }
            }
        intent_id = f"pi_{secrets.token_hex(12)}"
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(params["amount"]),
            "amount_received": 0,
            "currency": "jpy",
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "payment_method_types": types,
            "next_action": None,
            "livemode": False,
            "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")},
            "created": int(time.time()),
        }
        if types[0] == "konbini":
            require(params.get("confirm") == "true", "konbini is confirmed server-side")
            require(
                bool(params.get("payment_method_data[billing_details][name]")),
                "konbini needs a billing name",
            )
            require(
                bool(params.get("payment_method_data[billing_details][email]")),
                "konbini needs a billing email",
            )
            days = int(params.get("payment_method_options[konbini][expires_after_days]", "3"))
            require(1 <= days <= 60, "expires_after_days between 1 and 60")
            intent["status"] = "requires_action"
            intent["next_action"] = {
                "type": "konbini_display_details",
                "konbini_display_details": {
                    "expires_at": int(time.time()) + days * 86400,
                    "hosted_voucher_url": f"https://payments.stripe.com/konbini/voucher/{intent_id}",
                    "stores": {
                        "familymart": {
                            "confirmation_number": "12345678901",
                            "payment_code": "123456",
                        },
                        "lawson": {"confirmation_number": "12345678901", "payment_code": "123456"},
                        "ministop": {
                            "confirmation_number": "12345678901",
                            "payment_code": "123456",
                        },
                        "seicomart": {
                            "confirmation_number": "12345678901",
                            "payment_code": "123456",
                        },
                    },
                },
            }
        elif types[0] == "paypay":
            require(params.get("confirm") == "true", "paypay is confirmed server-side")
            require(params.get("return_url", "").startswith("http"), "paypay needs return_url")
            intent["status"] = "requires_action"
            intent["next_action"] = {
                "type": "redirect_to_url",
                "redirect_to_url": {
                    "url": f"https://pm-redirects.stripe.com/authorize/{intent_id}",
                    "return_url": params["return_url"],
                },
            }
        self.intents[intent_id] = intent
        return 200, intent

    def _refund(self, params: dict[str, str]) -> tuple[int, Any]:
        intent = self.intents.get(params.get("payment_intent", ""))
        require(intent is not None, "refund of an unknown payment_intent")
        assert intent is not None
        require(params.get("amount", "").isdigit(), "refund amount must be integer yen")
        amount = int(params["amount"])
        already = sum(
            r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"]
        )
        if intent["status"] != "succeeded" or amount + already > intent["amount_received"]:
            return 400, _error("invalid_request_error", "amount_too_large")
        refund = {
            "id": f"re_{secrets.token_hex(12)}",
            "object": "refund",
            "amount": amount,
            "currency": "jpy",
            "payment_intent": intent["id"],
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return 200, refund

    # --- what Stripe does on its side --------------------------------------------------

    def succeed(self, intent_id: str) -> None:
        """The visitor paid (3-D Secure passed, konbini paid at the store, PayPay approved)."""
        intent = self.intents[intent_id]
        intent.update(status="succeeded", amount_received=intent["amount"], next_action=None)

    def event(self, intent_id: str, event_type: str) -> dict[str, Any]:
        return {
            "id": f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "type": event_type,
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": dict(self.intents[intent_id])},
        }


def signed(
    event: dict[str, Any], secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Stripe would POST for ``event``."""
    body = json.dumps(event).encode()
    t = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={t},v1={signature}", "Content-Type": "application/json"}


def _error(kind: str, code: str) -> dict[str, Any]:
    return {"error": {"type": kind, "code": code, "message": code.replace("_", " ")}}
