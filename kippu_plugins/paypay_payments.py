"""PayPay direct (plugin ``paypay_payments``): the PayPay Open Payment API's dynamic QR.

Credentials (per facility, stored encrypted): ``api_key``, ``api_secret``,
``merchant_id`` (from the PayPay for Developers panel) and optionally ``api_base``
(default production ``https://api.paypay.ne.jp``; the sandbox is
``https://stg-api.sandbox.paypay.ne.jp``). Register the notification URL
``<base url>/api/v1/payments/paypay/webhook/<facility slug>`` in the PayPay panel.

Which documented behaviour each piece follows (PayPay OPA v2 "Web Payment", and the
official paypayopa SDKs, which implement the same construction):

- Authentication, ``Authorization: hmac OPA-Auth:<apiKey>:<macData>:<nonce>:<epoch>:<hash>``:
  ``hash`` is base64(MD5(content type + body)) with content type
  ``application/json;charset=UTF-8``, or the literal ``empty`` (and content type
  ``empty``) when there is no body; ``macData`` is base64(HMAC-SHA256(apiSecret,
  "\\n".join([path, METHOD, nonce, epoch, contentType, hash]))), ``path`` without the query.
  ``X-ASSUME-MERCHANT: <merchantId>`` names the merchant.
- ``POST /v2/codes`` creates a dynamic QR (``codeType: ORDER_QR``) for a
  ``merchantPaymentId`` (≤ 64 chars, unique: PayPay refuses a second code for it, so a
  retry can never make a second payable code); the answer's ``data.url`` opens the
  PayPay app on a phone and is what the QR encodes on a desktop.
- ``GET /v2/codes/payments/{merchantPaymentId}`` gives the status (CREATED, COMPLETED,
  FAILED, CANCELED, EXPIRED, REFUNDED, ...), amount and PayPay's ``paymentId``.
- ``DELETE /v2/payments/{merchantPaymentId}`` cancels a payment;
  ``POST /v2/refunds`` refunds with our ``merchantRefundId`` (idempotency key) and
  PayPay's ``paymentId``; ``GET /v2/refunds/{merchantRefundId}`` reads a refund back.
- Notifications (the "Transaction" event: ``notification_type``, ``merchant_id``,
  ``store_id``, ``pos_id``, ``order_id`` (PayPay's paymentId), ``merchant_order_id`` (our
  merchantPaymentId), ``authorized_at``, ``expires_at``, ``paid_at``, ``order_amount``,
  ``state``) are not signed with anything we hold, so a notification is only a hint: it
  must be a Transaction event for our ``merchant_id`` and one of this facility's
  ``merchant_order_id``; we then re-fetch the status from the API with our own
  credentials, and only that answer moves a payment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from core_service.plugin_api import (
    CredentialField,
    NextAction,
    NotificationRejected,
    OperationNotSupported,
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

PLUGIN_NAME = "paypay_payments"
API_BASE = "https://api.paypay.ne.jp"
CONTENT_TYPE = "application/json;charset=UTF-8"
#: ``notification_type`` of the transaction event, the one notification about payments.
TRANSACTION_EVENT = "Transaction"
_STATES = {
    "COMPLETED": "paid",
    "FAILED": "failed",
    "CANCELED": "failed",
    "EXPIRED": "failed",
    "REFUNDED": "refunded",
}


def opa_auth_header(
    api_key: str,
    api_secret: str,
    method: str,
    path: str,
    body: bytes,
    *,
    nonce: str | None = None,
    epoch: int | None = None,
) -> str:
    """The ``hmac OPA-Auth:...`` Authorization value for one request."""
    nonce = nonce or secrets.token_hex(4)
    epoch = epoch if epoch is not None else int(time.time())
    if body:
        content_type = CONTENT_TYPE
        digest = hashlib.md5(content_type.encode() + body).digest()  # noqa: S324 (PayPay's scheme)
        body_hash = base64.b64encode(digest).decode()
    else:
        content_type = body_hash = "empty"
    mac_input = "\n".join(
        [path.split("?")[0], method.upper(), nonce, str(epoch), content_type, body_hash]
    )
    mac = hmac.new(api_secret.encode(), mac_input.encode(), hashlib.sha256).digest()
    signature = base64.b64encode(mac).decode()
    return f"hmac OPA-Auth:{api_key}:{signature}:{nonce}:{epoch}:{body_hash}"


class PayPayProvider(PaymentProvider):
    name = "paypay"
    credential_fields = (
        CredentialField("api_key", "APIキー", "API key"),
        CredentialField("api_secret", "APIシークレット", "API secret"),
        CredentialField("merchant_id", "加盟店ID", "Merchant ID", secret=False),
        CredentialField(
            "api_base",
            "APIのURL(テスト環境用、通常は空欄)",
            "API URL (test environment; usually empty)",
            secret=False,
        ),
    )
    methods = ("paypay",)

    def method_label(self, method: str, locale: str) -> str:
        return "PayPay"

    def describe(self, method: str, locale: str) -> str:
        return "PayPay(QRコード決済)" if locale == "ja" else "PayPay (QR code payment)"

    @property
    def _prefix(self) -> str:
        # Names the facility inside merchantPaymentId, so a notification can be checked
        # against the facility whose webhook URL it arrived at.
        return f"kippu-{self.facility.id}-"

    def _http(self) -> ProviderHTTP:
        key, secret = self.credentials.get("api_key", ""), self.credentials.get("api_secret", "")
        merchant = self.credentials.get("merchant_id", "")

        def headers(method: str, path: str, body: bytes) -> dict[str, str]:
            # Signed afresh per attempt: each carries its own nonce and time.
            return {
                "Authorization": opa_auth_header(key, secret, method, path, body),
                "Content-Type": CONTENT_TYPE,
                "X-ASSUME-MERCHANT": merchant,
            }

        return ProviderHTTP(
            self.credentials.get("api_base") or API_BASE,
            provider=self.name,
            headers=headers,
            transport=self.transport,
        )

    async def _call(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload, separators=(",", ":")).encode() if payload else b""
        # Every PayPay call is keyed by a merchant id (payment, refund), so a repeat
        # is refused as a duplicate rather than executed twice: retries are safe.
        response = await self._http().request(method, path, content=body)
        return response.status_code, json_or_empty(response)

    @staticmethod
    def _result_code(answer: dict[str, Any]) -> str:
        return str((answer.get("resultInfo") or {}).get("code", ""))

    def _rejected(self, answer: dict[str, Any]) -> ProviderRejected:
        info = answer.get("resultInfo") or {}
        return ProviderRejected(
            f"PayPay refused the request: {info.get('code')} {info.get('message', '')}",
            "PayPayが要求を受け付けませんでした。",
            provider_code=str(info.get("code", "")),
        )

    async def start(self, payment: PaymentStart) -> NextAction:
        if payment.method != "paypay":
            raise OperationNotSupported(f"PayPay does not offer {payment.method}.")
        merchant_payment_id = f"{self._prefix}{payment.payment_id}"
        status, answer = await self._call(
            "POST",
            "/v2/codes",
            {
                "merchantPaymentId": merchant_payment_id,
                "amount": {"amount": payment.amount, "currency": "JPY"},
                "codeType": "ORDER_QR",
                "orderDescription": f"{self.facility.name_ja} {payment.order_code}"[:255],
                "isAuthorization": False,
                "redirectUrl": payment.return_url,
                "redirectType": "WEB_LINK",
                "requestedAt": int(time.time()),
            },
        )
        if status >= 400 or self._result_code(answer) != "SUCCESS":
            raise self._rejected(answer)
        data = answer["data"]
        return NextAction(
            kind="qr",
            url=data["url"],
            provider_ref=merchant_payment_id,
            data={
                "deeplink": data.get("deeplink", ""),
                "expires_at": data.get("expiryDate"),
                "code_id": data.get("codeId", ""),
            },
        )

    async def query_status(self, provider_ref: str) -> ProviderEvent:
        status, answer = await self._call("GET", f"/v2/codes/payments/{provider_ref}")
        if status >= 400 or self._result_code(answer) != "SUCCESS":
            raise self._rejected(answer)
        data = answer["data"]
        return ProviderEvent(
            provider_ref=provider_ref,
            state=_STATES.get(data.get("status", ""), "pending"),
            amount=int((data.get("amount") or {}).get("amount", 0)),
            detail={
                "paypay_status": data.get("status"),
                "payment_id": data.get("paymentId", ""),
                "reason": f"paypay: {data.get('status', '').lower()}",
            },
        )

    async def cancel(self, provider_ref: str, *, idempotency_key: str) -> None:
        status, answer = await self._call("DELETE", f"/v2/payments/{provider_ref}")
        if status >= 400 and "CANCEL" not in self._result_code(answer):
            raise self._rejected(answer)

    async def refund(
        self, provider_ref: str, amount: int, *, idempotency_key: str, reason: str = ""
    ) -> RefundResult:
        merchant_refund_id = idempotency_key[:64]
        paid = await self.query_status(provider_ref)
        status, answer = await self._call(
            "POST",
            "/v2/refunds",
            {
                "merchantRefundId": merchant_refund_id,
                "paymentId": paid.detail["payment_id"],
                "amount": {"amount": amount, "currency": "JPY"},
                "requestedAt": int(time.time()),
                "reason": reason[:255],
            },
        )
        if status >= 400 or self._result_code(answer) != "SUCCESS":
            # A refund we already asked for (e.g. a retry after a lost answer) is read
            # back by its merchantRefundId instead of being made again.
            status, answer = await self._call("GET", f"/v2/refunds/{merchant_refund_id}")
            if status >= 400 or self._result_code(answer) != "SUCCESS":
                raise self._rejected(answer)
        data = answer["data"]
        return RefundResult(
            refund_ref=merchant_refund_id,
            amount=int((data.get("amount") or {}).get("amount", amount)),
            state="refunded" if data.get("status") == "REFUNDED" else "pending",
            detail={"paypay_status": data.get("status")},
        )

    async def handle_notification(
        self, headers: dict[str, str], body: bytes
    ) -> ProviderEvent | None:
        try:
            hint = json.loads(body)
        except ValueError as exc:
            raise NotificationRejected("body is not JSON") from exc
        if not isinstance(hint, dict):
            raise NotificationRejected("body is not a PayPay notification")
        if hint.get("notification_type") != TRANSACTION_EVENT:
            return None  # another kind of notification: nothing to do with a payment
        reference = str(hint.get("merchant_order_id") or "")
        if not reference.startswith(self._prefix):
            raise NotificationRejected(f"merchant_order_id {reference!r} is not this facility's")
        merchant = self.credentials.get("merchant_id", "")
        if merchant and str(hint.get("merchant_id", "")) != merchant:
            raise NotificationRejected(f"merchant_id {hint.get('merchant_id')!r} is not ours")
        try:
            # The notification's own claims (state, order_amount) are ignored: only
            # PayPay's answer to our signed request counts.
            return await self.query_status(reference)
        except ProviderRejected as exc:
            raise NotificationRejected(f"PayPay does not know {reference!r}") from exc


@hookimpl
def register_payment_providers() -> list[type[Any]]:
    return [PayPayProvider]


@hookimpl
def register_routes() -> list[Any]:
    return [webhook_route(PLUGIN_NAME, PayPayProvider)]
