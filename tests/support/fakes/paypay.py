"""Fake of the PayPay Open Payment API subset kippu uses: dynamic QR, status, cancel, refund.

Checks every request's ``Authorization: hmac OPA-Auth:<apiKey>:<macData>:<nonce>:<epoch>:<hash>``
by recomputing it the documented way (MD5 body hash over content type + body, or
``empty``; HMAC-SHA256 over path, method, nonce, epoch, content type and hash), the
``X-ASSUME-MERCHANT`` header, a fresh epoch, integer JPY amounts, and the uniqueness of
``merchantPaymentId`` / ``merchantRefundId`` (a repeat is answered like PayPay:
``DUPLICATE_DYNAMIC_QR_REQUEST`` / a duplicate error). Answers carry PayPay's
``{"resultInfo": {...}, "data": {...}}`` envelope. :meth:`FakePayPay.notification` posts
the transaction event with exactly the documented field names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from tests.support.fakes import FakeAPI, Recorded, require

API_KEY = "a_kippuFAKE_key1"
API_SECRET = "kippuFAKEsecretPayPay0000001234"
MERCHANT_ID = "123456789012345678"
CONTENT_TYPE = "application/json;charset=UTF-8"
#: The transaction event's fields, in PayPay's documented names and order.
TRANSACTION_EVENT_FIELDS = (
    "notification_type",
    "merchant_id",
    "store_id",
    "pos_id",
    "order_id",
    "merchant_order_id",
    "authorized_at",
    "expires_at",
    "paid_at",
    "order_amount",
    "state",
)
#: The payment states a transaction event reports.
TRANSACTION_STATES = {"CREATED", "AUTHORIZED", "COMPLETED", "FAILED", "CANCELED", "EXPIRED"}


def _ok(data: Any, code_id: str = "08100001") -> dict[str, Any]:
    return {
        "resultInfo": {"code": "SUCCESS", "message": "Success", "codeId": code_id},
        "data": data,
    }


def _fail(code: str) -> dict[str, Any]:
    return {
        "resultInfo": {
            "code": code,
            "message": code.replace("_", " ").lower(),
            "codeId": "08100999",
        },
        "data": None,
    }


@dataclass
class FakePayPay(FakeAPI):
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _check_auth(self, request: Recorded) -> None:
        header = request.headers.get("authorization", "")
        require(header.startswith("hmac OPA-Auth:"), "Authorization must be hmac OPA-Auth")
        parts = header.removeprefix("hmac OPA-Auth:").split(":")
        require(len(parts) == 5, "OPA-Auth has apiKey:macData:nonce:epoch:hash")
        api_key, mac, nonce, epoch, body_hash = parts
        require(api_key == API_KEY, "unknown API key")
        require(epoch.isdigit() and abs(time.time() - int(epoch)) < 120, "stale epoch")
        if request.body:
            content_type = CONTENT_TYPE
            expected_hash = base64.b64encode(
                hashlib.md5(content_type.encode() + request.body).digest()
            ).decode()
        else:
            content_type = expected_hash = "empty"
        require(body_hash == expected_hash, "body hash does not match the body")
        mac_input = "\n".join(
            [request.path.split("?")[0], request.method, nonce, epoch, content_type, body_hash]
        )
        expected = base64.b64encode(
            hmac.new(API_SECRET.encode(), mac_input.encode(), hashlib.sha256).digest()
        ).decode()
        require(hmac.compare_digest(mac, expected), "OPA-Auth signature does not verify")
        require(request.headers.get("x-assume-merchant") == MERCHANT_ID, "X-ASSUME-MERCHANT")

    async def handle(self, request: Recorded) -> tuple[int, Any]:
        self._check_auth(request)
        path = request.path.split("?")[0]
        body = json.loads(request.body) if request.body else {}
        if request.method == "POST" and path == "/v2/codes":
            return self._create_code(body)
        if request.method == "GET" and path.startswith("/v2/codes/payments/"):
            payment = self.payments.get(path.rsplit("/", 1)[1])
            if payment is None:
                return 404, _fail("DYNAMIC_QR_PAYMENT_NOT_FOUND")
            return 200, _ok(payment)
        if request.method == "DELETE" and path.startswith("/v2/payments/"):
            payment = self.payments.get(path.rsplit("/", 1)[1])
            if payment is None:
                return 404, _fail("ORDER_NOT_FOUND")
            if payment["status"] == "CREATED":
                payment["status"] = "CANCELED"
            return 202, _ok(None, "08100001")
        if request.method == "POST" and path == "/v2/refunds":
            return self._refund(body)
        if request.method == "GET" and path.startswith("/v2/refunds/"):
            refund = self.refunds.get(path.rsplit("/", 1)[1])
            return (200, _ok(refund)) if refund else (404, _fail("NO_SUCH_REFUND_ORDER"))
        return 404, _fail("NOT_FOUND")

    def _create_code(self, body: dict[str, Any]) -> tuple[int, Any]:
        mpid = body.get("merchantPaymentId", "")
        require(0 < len(mpid) <= 64, "merchantPaymentId 1..64 characters")
        amount = body.get("amount", {})
        require(
            isinstance(amount.get("amount"), int) and amount.get("currency") == "JPY",
            "amount must be {amount: int, currency: JPY}",
        )
        require(body.get("codeType") == "ORDER_QR", "codeType must be ORDER_QR")
        require(isinstance(body.get("requestedAt"), int), "requestedAt epoch seconds")
        if mpid in self.payments:
            return 400, _fail("DUPLICATE_DYNAMIC_QR_REQUEST")
        code_id = f"04-{secrets.token_urlsafe(12)}"
        url = f"https://qr.paypay.ne.jp/28180104{secrets.token_hex(8)}"
        self.payments[mpid] = {
            "paymentId": "",
            "status": "CREATED",
            "acceptedAt": None,
            "merchantPaymentId": mpid,
            "amount": amount,
            "requestedAt": body["requestedAt"],
            "storeId": "",
            "terminalId": "",
            "orderReceiptNumber": "",
            "orderDescription": body.get("orderDescription", ""),
            "codeId": code_id,
        }
        return 201, _ok(
            {
                "codeId": code_id,
                "url": url,
                "deeplink": f"paypay://payment?link_key={url}",
                "expiryDate": int(time.time()) + 300,
                "merchantPaymentId": mpid,
                "amount": amount,
                "orderDescription": body.get("orderDescription", ""),
                "codeType": "ORDER_QR",
                "redirectUrl": body.get("redirectUrl"),
                "redirectType": body.get("redirectType"),
                "isAuthorization": False,
            }
        )

    def _refund(self, body: dict[str, Any]) -> tuple[int, Any]:
        refund_id = body.get("merchantRefundId", "")
        require(0 < len(refund_id) <= 64, "merchantRefundId 1..64 characters")
        amount = body.get("amount", {})
        require(
            isinstance(amount.get("amount"), int) and amount.get("currency") == "JPY",
            "refund amount {amount: int, currency: JPY}",
        )
        if refund_id in self.refunds:
            return 400, _fail("DUPLICATE_REQUEST")
        payment = next(
            (
                p
                for p in self.payments.values()
                if p["paymentId"] and p["paymentId"] == body.get("paymentId")
            ),
            None,
        )
        require(payment is not None, "paymentId must be PayPay's paymentId of a paid payment")
        assert payment is not None
        refunded = sum(
            r["amount"]["amount"]
            for r in self.refunds.values()
            if r["paymentId"] == payment["paymentId"]
        )
        if refunded + amount["amount"] > payment["amount"]["amount"]:
            return 400, _fail("INVALID_PARAMS")
        self.refunds[refund_id] = {
            "status": "CREATED",
            "acceptedAt": int(time.time()),
            "merchantRefundId": refund_id,
            "paymentId": payment["paymentId"],
            "amount": amount,
            "requestedAt": body.get("requestedAt"),
            "reason": body.get("reason", ""),
        }
        return 201, _ok(self.refunds[refund_id])

    # --- what PayPay does on its side --------------------------------------------------

    def pay(self, merchant_payment_id: str) -> None:
        """The visitor scanned the code and approved in the app."""
        payment = self.payments[merchant_payment_id]
        payment.update(
            status="COMPLETED",
            acceptedAt=int(time.time()),
            paymentId=str(secrets.randbelow(10**18)),
        )

    def notification(
        self,
        merchant_payment_id: str,
        state: str = "COMPLETED",
        *,
        merchant_id: str = MERCHANT_ID,
        notification_type: str = "Transaction",
    ) -> bytes:
        """A transaction event as PayPay posts it (unsigned), by its documented field
        names; ``state`` is what the event claims, whatever the payment really is."""
        require(state in TRANSACTION_STATES, f"{state!r} is not a transaction event state")
        payment = self.payments.get(merchant_payment_id, {"amount": {"amount": 0}})
        event = {
            "notification_type": notification_type,
            "merchant_id": merchant_id,
            "store_id": "",
            "pos_id": "",
            "order_id": payment.get("paymentId", ""),
            "merchant_order_id": merchant_payment_id,
            "authorized_at": None,
            "expires_at": None,
            "paid_at": None,
            "order_amount": payment["amount"]["amount"],
            "state": state,
        }
        assert tuple(event) == TRANSACTION_EVENT_FIELDS
        return json.dumps(event).encode()

    def status_lookups(self, merchant_payment_id: str) -> int:
        """How often kippu asked for this payment's status (a notification must cause one)."""
        return len(self.requests_to("GET", f"/v2/codes/payments/{merchant_payment_id}"))
