"""A local fake of the Square Terminal and Refunds API subset the kiosk uses.

``FakeSquare`` is an ``httpx.MockTransport`` handler. It answers like Square does
(``{"checkout": {...}}``, ``{"errors": [...]}``) and checks what the adapter sends: the
bearer token, the ``Square-Version`` header, an ``idempotency_key`` in every body that
Square defines one for, ``amount_money`` as integer yen in ``JPY`` and our ``device_id``.
Anything wrong is refused with 400 and recorded in ``violations``.

Outcomes per checkout (``outcomes`` queue, else ``outcome``): ``approve``, ``decline``
(the card is refused on the terminal and the visitor gives up: BUYER_CANCELED),
``timeout`` (TIMED_OUT), ``wait`` (stays PENDING until the kiosk cancels), and ``drop``
(approved, then every later call fails to connect until ``reconnect()``).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

TOKEN = "EAAAsquare-test-token"
DEVICE = "device:995CS397A6475287"
VERSION = "2025-04-16"


def _error(status: int, code: str, detail: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"errors": [{"category": "INVALID_REQUEST_ERROR", "code": code, "detail": detail}]},
    )


@dataclass
class FakeSquare:
    outcome: str = "approve"
    outcomes: deque[str] = field(default_factory=deque)
    polls_before_result: int = 1  # GETs that still say IN_PROGRESS
    token: str = TOKEN
    device_id: str = DEVICE
    version: str = VERSION
    calls: list[httpx.Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    checkouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)  # by idempotency key
    dropped: bool = False
    _keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (body, id)
    _plan: dict[str, list[str]] = field(default_factory=dict)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def reconnect(self) -> None:
        self.dropped = False

    def charged(self) -> list[dict[str, Any]]:
        return [c for c in self.checkouts.values() if c["status"] == "COMPLETED"]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.dropped:
            raise httpx.ConnectError("network unreachable", request=request)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self.violations.append(f"bad auth on {request.url.path}")
            return _error(401, "UNAUTHORIZED", "bad token")
        if request.headers.get("Square-Version") != self.version:
            self.violations.append(f"Square-Version {request.headers.get('Square-Version')!r}")
            return _error(400, "INVALID_VALUE", "Square-Version")
        body = json.loads(request.content) if request.content else {}
        path, method = request.url.path, request.method
        if method == "POST" and path == "/v2/terminals/checkouts":
            return self._create(body)
        if method == "POST" and path == "/v2/terminals/checkouts/search":
            return self._search(body)
        if method == "POST" and path.endswith("/cancel"):
            return self._cancel(path.split("/")[-2])
        if method == "GET" and path.startswith("/v2/terminals/checkouts/"):
            return self._get(path.rsplit("/", 1)[1])
        if method == "GET" and path.startswith("/v2/payments/"):
            return self._payment(path.rsplit("/", 1)[1])
        if method == "POST" and path == "/v2/refunds":
            return self._refund(body)
        return _error(404, "NOT_FOUND", path)

    def _money(self, money: Any, where: str) -> bool:
        ok = (
            isinstance(money, dict)
            and money.get("currency") == "JPY"
            and isinstance(money.get("amount"), int)
            and money["amount"] > 0
        )
        if not ok:
            self.violations.append(f"{where}: amount_money {money!r}")
        return ok

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        key = body.get("idempotency_key")
        checkout = body.get("checkout", {})
        if not key:
            self.violations.append("create without idempotency_key")
            return _error(400, "MISSING_REQUIRED_PARAMETER", "idempotency_key")
        if not self._money(checkout.get("amount_money"), "create"):
            return _error(400, "INVALID_VALUE", "amount_money")
        if checkout.get("device_options", {}).get("device_id") != self.device_id:
            self.violations.append("wrong device_id")
            return _error(400, "NOT_FOUND", "device_id")
        raw = json.dumps(body, sort_keys=True)
        if key in self._keys:
            seen, checkout_id = self._keys[key]
            if seen != raw:
                return _error(400, "IDEMPOTENCY_KEY_REUSED", key)
            return httpx.Response(200, json={"checkout": self.checkouts[checkout_id]})
        checkout_id = f"CHK{len(self.checkouts) + 1:04d}"
        outcome = self.outcomes.popleft() if self.outcomes else self.outcome
        self._plan[checkout_id] = ["IN_PROGRESS"] * self.polls_before_result + [outcome]
        stored = {
            **checkout,
            "id": checkout_id,
            "status": "PENDING",
            "deadline_duration": "PT5M",
            "created_at": "2026-11-25T01:00:00Z",
        }
        self.checkouts[checkout_id] = stored
        self._keys[key] = (raw, checkout_id)
        return httpx.Response(200, json={"checkout": stored})

    def _get(self, checkout_id: str) -> httpx.Response:
        checkout = self.checkouts.get(checkout_id)
        if checkout is None:
            return _error(404, "NOT_FOUND", checkout_id)
        plan = self._plan.get(checkout_id, [])
        if checkout["status"] not in ("COMPLETED", "CANCELED") and plan:
            step = plan.pop(0)
            if step == "IN_PROGRESS":
                checkout["status"] = "IN_PROGRESS"
            elif step in ("approve", "drop"):
                checkout.update(status="COMPLETED", payment_ids=[f"PAY-{checkout_id}"])
                if step == "drop":
                    self.dropped = True  # the approval happened; the kiosk never hears it
                    raise httpx.ReadError("connection reset")
            elif step == "decline":
                checkout.update(status="CANCELED", cancel_reason="BUYER_CANCELED")
            elif step == "timeout":
                checkout.update(status="CANCELED", cancel_reason="TIMED_OUT")
            elif step == "wait":
                plan.insert(0, "wait")
        return httpx.Response(200, json={"checkout": checkout})

    def _cancel(self, checkout_id: str) -> httpx.Response:
        checkout = self.checkouts.get(checkout_id)
        if checkout is None:
            return _error(404, "NOT_FOUND", checkout_id)
        if checkout["status"] == "COMPLETED":
            return _error(400, "BAD_REQUEST", "checkout already completed")
        checkout.update(status="CANCELED", cancel_reason="SELLER_CANCELED")
        self._plan[checkout_id] = []
        return httpx.Response(200, json={"checkout": checkout})

    def _search(self, body: dict[str, Any]) -> httpx.Response:
        device = body.get("query", {}).get("filter", {}).get("device_id")
        found = [
            c for c in self.checkouts.values() if device in (None, c["device_options"]["device_id"])
        ]
        return httpx.Response(200, json={"checkouts": list(reversed(found))})

    def _payment(self, payment_id: str) -> httpx.Response:
        for checkout in self.checkouts.values():
            if payment_id in checkout.get("payment_ids", []):
                payment = {
                    "id": payment_id,
                    "status": "COMPLETED",
                    "amount_money": checkout["amount_money"],
                }
                return httpx.Response(200, json={"payment": payment})
        return _error(404, "NOT_FOUND", payment_id)

    def _refund(self, body: dict[str, Any]) -> httpx.Response:
        key = body.get("idempotency_key")
        if not key:
            self.violations.append("refund without idempotency_key")
            return _error(400, "MISSING_REQUIRED_PARAMETER", "idempotency_key")
        if not self._money(body.get("amount_money"), "refund"):
            return _error(400, "INVALID_VALUE", "amount_money")
        if key in self.refunds:
            return httpx.Response(200, json={"refund": self.refunds[key]})
        if not any(
            body.get("payment_id") in c.get("payment_ids", []) for c in self.checkouts.values()
        ):
            return _error(404, "NOT_FOUND", "payment_id")
        refund = {
            "id": f"REF{len(self.refunds) + 1:04d}",
            "status": "PENDING",
            "payment_id": body["payment_id"],
            "amount_money": body["amount_money"],
        }
        self.refunds[key] = refund
        return httpx.Response(200, json={"refund": refund})
