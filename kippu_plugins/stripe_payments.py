"""Stripe payments (plugin ``stripe_payments``): cards, konbini and PayPay via PaymentIntents.

Credentials (per facility, stored encrypted, see ``docs/payments.md``): ``secret_key``
(``sk_live_…``), ``publishable_key`` (``pk_live_…``, for Stripe.js), ``webhook_secret``
(``whsec_…`` of the endpoint registered at
``<base url>/api/v1/payments/stripe/webhook/<facility slug>``), optionally
``konbini_expires_after_days`` and ``api_base`` (tests point it at a fake).

What follows which documented behaviour of the Stripe API (docs.stripe.com/api):

- Requests are form-encoded, authenticated with ``Authorization: Bearer <secret key>``,
  amounts in the smallest currency unit, which for the zero-decimal ``jpy`` is the yen.
- Every POST carries an ``Idempotency-Key`` header; Stripe answers a repeated key with the
  first result, so a retry after a timeout cannot create a second PaymentIntent/refund.
- Card: a PaymentIntent with ``payment_method_types[]=card`` and
  ``payment_method_options[card][request_three_d_secure]=automatic``, confirmed in the
  browser by Stripe.js with the ``client_secret`` (3-D Secure runs there and comes back to
  ``return_url``) → ``NextAction("client_confirm")``.
- Konbini: confirmed server-side with ``payment_method_data[type]=konbini`` and billing
  name/email; the PaymentIntent waits in ``requires_action`` with
  ``next_action.konbini_display_details`` (``expires_at``, ``hosted_voucher_url``,
  ``stores.<chain>.payment_code`` / ``confirmation_number``) → ``NextAction("konbini")``.
- PayPay (Stripe's ``paypay`` payment method type, Japan): confirmed server-side with a
  ``return_url``; ``next_action.redirect_to_url.url`` sends the visitor to PayPay.
- Webhooks: ``Stripe-Signature: t=<unix time>,v1=<hex>``; v1 is HMAC-SHA256 of
  ``"<t>.<raw body>"`` under the endpoint secret; any one matching v1 passes; events older
  than the tolerance (Stripe's libraries default to 300 s) are replays and refused.
- ``payment_intent.succeeded`` → paid (``amount_received``); ``payment_intent.canceled``
  → failed; ``payment_intent.payment_failed`` leaves the PaymentIntent in
  ``requires_payment_method`` where the visitor may try again, so it changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

from core_service.plugin_api import (
    CredentialField,
    NextAction,
    NotificationRejected,
    OperationNotSupported,
    PaymentDeclined,
    PaymentProvider,
    PaymentStart,
    ProviderEvent,
    ProviderHTTP,
    ProviderRejected,
    RefundResult,
    hookimpl,
    json_or_empty,
    webhook_route,
)

PLUGIN_NAME = "stripe_payments"
API_BASE = "https://api.stripe.com"
#: Seconds a signed webhook stays acceptable (the default of Stripe's own libraries).
SIGNATURE_TOLERANCE = 300

_LABELS = {
    "card": ("クレジットカード", "Credit card"),
    "konbini": ("コンビニ払い", "Convenience store (konbini)"),
    "paypay": ("PayPay", "PayPay"),
}
_STATES = {
    "succeeded": "paid",
    "requires_capture": "authorized",
    "canceled": "failed",
}


class StripeProvider(PaymentProvider):
    name = "stripe"
    credential_fields = (
        CredentialField("secret_key", "シークレットキー", "Secret key"),
        CredentialField("publishable_key", "公開可能キー", "Publishable key", secret=False),
        CredentialField("webhook_secret", "Webhook署名シークレット", "Webhook signing secret"),
        CredentialField(
            "konbini_expires_after_days",
            "コンビニ払いの支払期限(日数)",
            "Konbini payment deadline (days)",
            secret=False,
        ),
        CredentialField(
            "api_base",
            "APIのURL(テスト環境用、通常は空欄)",
            "API URL (test environment; usually empty)",
            secret=False,
        ),
    )
    methods = ("card", "konbini", "paypay")

    def method_label(self, method: str, locale: str) -> str:
        ja, en = _LABELS[method]
        return ja if locale == "ja" else en

    def describe(self, method: str, locale: str) -> str:
        return f"{self.method_label(method, locale)} (Stripe)"

    # --- HTTP -----------------------------------------------------------------------

    def _http(self) -> ProviderHTTP:
        secret = self.credentials.get("secret_key", "")

        def headers(method: str, path: str, body: bytes) -> dict[str, str]:
            return {
                "Authorization": f"Bearer {secret}",
                "Content-Type": "application/x-www-form-urlencoded",
            }

        return ProviderHTTP(
            self.credentials.get("api_base") or API_BASE,
            provider=self.name,
            headers=headers,
            transport=self.transport,
        )

    async def _call(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None = None,
        idempotency_key: str = "",
    ) -> dict[str, Any]:
        extra = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = await self._http().request(
            method,
            path,
            content=urlencode(params or []).encode(),
            extra_headers=extra,
            # GETs are reads; POSTs are retried only under an idempotency key.
            retry=method == "GET" or bool(idempotency_key),
        )
        body = json_or_empty(response)
        if response.status_code < 400:
            return body
        error = body.get("error", {})
        if error.get("type") == "card_error":
            raise PaymentDeclined(decline_code=error.get("decline_code") or error.get("code", ""))
        raise ProviderRejected(
            f"Stripe refused the request: {error.get('message', response.status_code)}",
            "決済サービスが要求を受け付けませんでした。",
            provider_code=error.get("code", ""),
        )

    # --- lifecycle ------------------------------------------------------------------

    async def start(self, payment: PaymentStart) -> NextAction:
        if payment.method not in self.methods:
            raise OperationNotSupported(f"Stripe does not offer {payment.method}.")
        params = [
            ("amount", str(payment.amount)),
            ("currency", "jpy"),
            ("payment_method_types[]", payment.method),
            ("description", f"{self.facility.name_en} {payment.order_code}"),
            ("metadata[kippu_payment_id]", str(payment.payment_id)),
            ("metadata[kippu_order_code]", payment.order_code),
            ("metadata[kippu_facility]", self.facility.slug),
        ]
        if payment.customer_email:
            params.append(("receipt_email", payment.customer_email))
        if payment.method == "card":
            params.append(("payment_method_options[card][request_three_d_secure]", "automatic"))
        elif payment.method == "konbini":
            days = str(self.credentials.get("konbini_expires_after_days") or 3)
            name = payment.customer_name or payment.customer_email or payment.order_code
            params += [
                ("confirm", "true"),
                ("payment_method_data[type]", "konbini"),
                ("payment_method_data[billing_details][name]", name),
                ("payment_method_data[billing_details][email]", payment.customer_email),
                ("payment_method_options[konbini][expires_after_days]", days),
                # Shown at the store's register; Stripe allows up to 22 characters.
                (
                    "payment_method_options[konbini][product_description]",
                    self.facility.name_ja[:22],
                ),
            ]
        else:  # paypay
            params += [
                ("confirm", "true"),
                ("payment_method_data[type]", "paypay"),
                ("return_url", payment.return_url),
            ]
        intent = await self._call(
            "POST",
            "/v1/payment_intents",
            params,
            idempotency_key=f"kippu-{self.facility.id}-pay-{payment.payment_id}",
        )
        return self._next_action(intent, payment)

    def _next_action(self, intent: dict[str, Any], payment: PaymentStart) -> NextAction:
        ref = intent["id"]
        if intent.get("status") == "succeeded":
            return NextAction(kind="paid", provider_ref=ref)
        action = intent.get("next_action") or {}
        if action.get("type") == "konbini_display_details":
            details = action["konbini_display_details"]
            return NextAction(
                kind="konbini",
                url=details.get("hosted_voucher_url") or "",
                provider_ref=ref,
                data={
                    "expires_at": details.get("expires_at"),
                    "stores": details.get("stores", {}),
                },
            )
        if action.get("type") == "redirect_to_url":
            return NextAction(
                kind="redirect", url=action["redirect_to_url"]["url"], provider_ref=ref
            )
        return NextAction(
            kind="client_confirm",
            provider_ref=ref,
            data={
                "sdk": "stripe.js",
                "client_secret": intent.get("client_secret", ""),
                "publishable_key": self.credentials.get("publishable_key", ""),
                "return_url": payment.return_url,
            },
        )

    def _event(self, intent: dict[str, Any], event_id: str = "") -> ProviderEvent:
        state = _STATES.get(intent.get("status", ""), "pending")
        amount = intent.get("amount_received") if state == "paid" else intent.get("amount")
        metadata = intent.get("metadata") or {}
        return ProviderEvent(
            provider_ref=intent["id"],
            state=state,
            amount=int(amount or 0),
            merchant_ref=str(metadata.get("kippu_payment_id", "")),
            event_id=event_id,
            detail={
                "stripe_status": intent.get("status"),
                "reason": (intent.get("last_payment_error") or {}).get("code", ""),
            },
        )

    async def query_status(self, provider_ref: str) -> ProviderEvent:
        return self._event(await self._call("GET", f"/v1/payment_intents/{provider_ref}"))

    async def capture(
        self, provider_ref: str, amount: int, *, idempotency_key: str
    ) -> ProviderEvent | None:
        intent = await self._call(
            "POST",
            f"/v1/payment_intents/{provider_ref}/capture",
            [("amount_to_capture", str(amount))],
            idempotency_key=idempotency_key,
        )
        return self._event(intent)

    async def refund(
        self, provider_ref: str, amount: int, *, idempotency_key: str, reason: str = ""
    ) -> RefundResult:
        params = [
            ("payment_intent", provider_ref),
            ("amount", str(amount)),
            ("metadata[kippu_reason]", reason),
        ]
        refund = await self._call("POST", "/v1/refunds", params, idempotency_key=idempotency_key)
        state = "refunded" if refund.get("status") == "succeeded" else "pending"
        return RefundResult(
            refund_ref=refund["id"],
            amount=int(refund.get("amount", amount)),
            state=state,
            detail={"stripe_status": refund.get("status")},
        )

    async def cancel(self, provider_ref: str, *, idempotency_key: str) -> None:
        await self._call(
            "POST", f"/v1/payment_intents/{provider_ref}/cancel", idempotency_key=idempotency_key
        )

    # --- webhooks -------------------------------------------------------------------

    async def handle_notification(
        self, headers: dict[str, str], body: bytes
    ) -> ProviderEvent | None:
        verify_signature(
            body, headers.get("stripe-signature", ""), self.credentials.get("webhook_secret", "")
        )
        try:
            event = json.loads(body)
            intent = event["data"]["object"]
        except (ValueError, KeyError, TypeError) as exc:
            raise NotificationRejected("signed body is not a Stripe event") from exc
        if not str(event.get("type", "")).startswith("payment_intent."):
            return None
        facility = (intent.get("metadata") or {}).get("kippu_facility")
        if facility and facility != self.facility.slug:
            raise NotificationRejected(f"event is for facility {facility!r}")
        if event["type"] == "payment_intent.payment_failed":
            # Not final: the visitor can retry on the same PaymentIntent.
            return None
        return self._event(intent, event_id=str(event.get("id", "")))


def sign_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """The v1 signature Stripe computes for ``payload`` at ``timestamp``."""
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_signature(
    payload: bytes,
    header: str,
    secret: str,
    *,
    tolerance: int = SIGNATURE_TOLERANCE,
    now: float | None = None,
) -> None:
    """Raise :class:`NotificationRejected` unless ``header`` signs ``payload``."""
    if not secret:
        raise NotificationRejected("no webhook secret configured")
    timestamp, signatures = None, []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise NotificationRejected("malformed Stripe-Signature header")
    expected = sign_payload(payload, secret, timestamp)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise NotificationRejected("signature does not match")
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        raise NotificationRejected("signature timestamp outside the tolerance (replay?)")


@hookimpl
def register_payment_providers() -> list[type[Any]]:
    return [StripeProvider]


@hookimpl
def register_routes() -> list[Any]:
    return [webhook_route(PLUGIN_NAME, StripeProvider)]
