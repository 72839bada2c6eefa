"""Fake of the Paidy API subset kippu uses: retrieve, capture, refund, close a payment.

Checks ``Authorization: Bearer <secret key>``, the ``Paidy-Version`` header, JSON bodies
and integer yen; payments answer with the documented payment object (``id`` ``pay_…``,
``status`` AUTHORIZED/CLOSED/REJECTED, ``amount``, ``currency``, ``order``,
``captures``, ``refunds``, ``metadata``). Payments themselves are made by Paidy checkout
in the browser; :meth:`FakePaidy.authorize` plays that part. Captures of a payment that
is not AUTHORIZED are refused with 400, as Paidy does.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from tests.support.fakes import FakeAPI, Recorded, require

SECRET_KEY = "sk_test_kippuFAKEpaidy00007c1e"
PUBLIC_KEY = "pk_test_kippuFAKEpaidy"
API_VERSION = "2018-04-10"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class FakePaidy(FakeAPI):
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def handle(self, request: Recorded) -> tuple[int, Any]:
        require(
            request.headers.get("authorization") == f"Bearer {SECRET_KEY}",
            "Authorization must be 'Bearer <secret key>'",
        )
        require(request.headers.get("paidy-version") == API_VERSION, "Paidy-Version header")
        parts = request.path.split("?")[0].strip("/").split("/")
        require(parts[0] == "payments" and len(parts) in (2, 3), f"unknown path {request.path}")
        payment = self.payments.get(parts[1])
        if payment is None:
            return 404, {
                "reference": "",
                "status": 404,
                "code": "payment.not_found",
                "title": "Payment not found",
            }
        if request.method == "GET" and len(parts) == 2:
            return 200, payment
        require(request.method == "POST" and len(parts) == 3, "unexpected request")
        body = json.loads(request.body) if request.body else {}
        action = parts[2]
        if action == "captures":
            if payment["status"] != "AUTHORIZED":
                return 400, {
                    "status": 400,
                    "code": "request_content.malformed",
                    "title": "Payment is not authorized",
                }
            payment["captures"].append(
                {
                    "id": f"cap_{secrets.token_hex(8)}",
                    "created_at": _now(),
                    "amount": payment["amount"],
                    "tax": 0,
                    "shipping": 0,
                    "items": payment["order"]["items"],
                    "metadata": body.get("metadata", {}),
                }
            )
            payment["status"] = "CLOSED"
            return 200, payment
        if action == "refunds":
            require(isinstance(body.get("amount"), int), "refund amount must be integer yen")
            capture_ids = [c["id"] for c in payment["captures"]]
            require(body.get("capture_id") in capture_ids, "capture_id of this payment")
            refunded = sum(r["amount"] for r in payment["refunds"])
            if refunded + body["amount"] > payment["amount"]:
                return 400, {
                    "status": 400,
                    "code": "request_content.malformed",
                    "title": "Refund exceeds capture",
                }
            payment["refunds"].append(
                {
                    "id": f"ref_{secrets.token_hex(8)}",
                    "created_at": _now(),
                    "capture_id": body["capture_id"],
                    "amount": body["amount"],
                    "reason": body.get("reason"),
                    "metadata": body.get("metadata", {}),
                }
            )
            return 200, payment
        if action == "close":
            if payment["status"] == "AUTHORIZED":
                payment["status"] = "CLOSED"
            return 200, payment
        return 404, {"status": 404, "code": "not_found"}

    # --- what Paidy checkout does in the browser ---------------------------------------

    def authorize(
        self, amount: int, order_ref: str, metadata: dict[str, str], *, status: str = "AUTHORIZED"
    ) -> str:
        payment_id = f"pay_{secrets.token_urlsafe(12)}"
        self.payments[payment_id] = {
            "id": payment_id,
            "created_at": _now(),
            "expires_at": _now(),
            "amount": amount,
            "currency": "JPY",
            "description": "",
            "store_name": "kippu",
            "test": True,
            "status": status,
            "tier": "classic",
            "buyer": {"name1": "山田 太郎", "email": "visitor@example.com", "phone": "08000000001"},
            "order": {
                "items": [
                    {"id": order_ref, "quantity": 1, "title": order_ref, "unit_price": amount}
                ],
                "tax": 0,
                "shipping": 0,
                "order_ref": order_ref,
                "updated_at": None,
            },
            "shipping_address": {"zip": "106-2004"},
            "captures": [],
            "refunds": [],
            "metadata": metadata,
        }
        return payment_id

    def notification(self, payment_id: str, status: str = "authorize_success") -> bytes:
        return json.dumps(
            {
                "payment_id": payment_id,
                "event_type": "payment",
                "status": status,
                "timestamp": _now(),
            }
        ).encode()
