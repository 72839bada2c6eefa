"""A fake of the core's kiosk API (per the contract in docs/kiosk.md) for kiosk tests.

``FakeCore`` is an ``httpx.MockTransport`` handler: it keeps the calls it received and
can be told to fail (``down``, ``fail_orders``, ``conflict``) so tests drive each path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from escpos.escpos import Escpos

from kiosk_driver.config import KioskConfig
from kiosk_driver.core_client import CoreClient
from kiosk_driver.journal import Journal
from kiosk_driver.profiles import resolve_profile
from kiosk_driver.sale import Kiosk
from kiosk_driver.terminal import PaymentTerminal, SimulatedTerminal

TOKEN = "device-token-123"
QR_TOKEN = (
    "kp1.eyJ0IjoxMDEsImYiOjEsInYiOiIyMDI2LTExLTI1In0.c2lnbmF0dXJlLW9mLXRoZS10aWNrZXQtZWQyNTUxOQ"
)

FACILITY = {
    "id": 1,
    "slug": "mori-park",
    "name_ja": "森のアスレチック",
    "name_en": "Forest Adventure Park",
    "tax_registration_number": "T1234567890123",
}

CATALOG: dict[str, Any] = {
    "facility": FACILITY,
    "products": [
        {
            "id": 10,
            "code": "DAY",
            "kind": "day_admission",
            "name_ja": "入園券",
            "name_en": "Day admission",
            "uses": None,
            "tax_rate": 10,
            "price_categories": [
                {
                    "id": 100,
                    "code": "adult",
                    "name_ja": "大人",
                    "name_en": "Adult",
                    "price": 1800,
                    "handling_fee": 0,
                },
                {
                    "id": 101,
                    "code": "child",
                    "name_ja": "小人",
                    "name_en": "Child",
                    "price": 900,
                    "handling_fee": 0,
                },
            ],
            "marker": {"symbol": "〇", "label_ja": "空きあり", "label_en": "Available"},
        },
        {
            "id": 20,
            "code": "RIDE10",
            "kind": "coupon_book",
            "name_ja": "のりもの回数券",
            "name_en": "Ride coupon book",
            "uses": 10,
            "tax_rate": 10,
            "price_categories": [
                {
                    "id": 200,
                    "code": "any",
                    "name_ja": "共通",
                    "name_en": "All ages",
                    "price": 3000,
                    "handling_fee": 0,
                },
            ],
            "marker": None,
        },
    ],
    "checkout_fields": [
        {
            "name": "waiver",
            "kind": "checkbox",
            "label_ja": "同意する",
            "label_en": "I agree",
            "text_ja": "けがの危険があることを理解しました",
            "text_en": "I understand the risks",
            "required": True,
        },
    ],
    "payment_methods": ["card", "emoney", "qr"],
}


@dataclass
class FakeCore:
    """The kiosk API of the core, in memory."""

    catalog: dict[str, Any] = field(default_factory=lambda: json.loads(json.dumps(CATALOG)))
    tokens: set[str] = field(default_factory=lambda: {TOKEN})
    enrol_codes: dict[str, str] = field(default_factory=lambda: {"ENROL-1": TOKEN})
    calls: list[httpx.Request] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # by idempotency key
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    staff_calls: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False  # every call fails to connect
    fail_orders: int = 0  # the next N order calls answer 503
    lose_order_responses: int = 0  # create the order, then drop the connection
    conflict: str | None = None  # order calls answer 409 with this detail
    next_ticket: int = 1000

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def order_calls(self) -> list[httpx.Request]:
        return [c for c in self.calls if c.url.path.endswith("/orders")]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path.removeprefix("/api/v1/kiosk")
        if path == "/enrol":
            code = json.loads(request.content)["code"]
            if code not in self.enrol_codes:
                return httpx.Response(404, json={"detail": "unknown enrolment code"})
            return httpx.Response(
                200,
                json={
                    "token": self.enrol_codes.pop(code),
                    "device": {"id": 7, "name": "Kiosk 1"},
                    "facility": FACILITY,
                },
            )
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") not in self.tokens:
            return httpx.Response(401, json={"detail": "invalid device token"})
        if path == "/catalog":
            return httpx.Response(200, json=self.catalog)
        if path == "/heartbeat":
            self.heartbeats.append(json.loads(request.content))
            return httpx.Response(204)
        if path == "/orders":
            return self._order(request)
        if path == "/call-staff":
            self.staff_calls.append(json.loads(request.content))
            return httpx.Response(200, json={"open": True, **self.staff_calls[-1], "at": "now"})
        return httpx.Response(404, json={"detail": "not found"})

    def _order(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return httpx.Response(400, json={"detail": "Idempotency-Key required"})
        if self.fail_orders:
            self.fail_orders -= 1
            return httpx.Response(503, json={"detail": "database busy"})
        if self.conflict:
            return httpx.Response(409, json={"detail": self.conflict})
        if key in self.orders:
            return httpx.Response(200, json=self.orders[key])
        body = json.loads(request.content)
        answer = self._build(body)
        if answer["order"]["total"] != body["payment"]["amount"]:
            return httpx.Response(409, json={"detail": "amount mismatch"})
        self.orders[key] = answer
        if self.lose_order_responses:
            self.lose_order_responses -= 1
            raise httpx.ReadTimeout("response lost", request=request)
        return httpx.Response(201, json=answer)

    def _build(self, body: dict[str, Any]) -> dict[str, Any]:
        lines, tickets, by_rate = [], [], {}
        for line in body["lines"]:
            for product in self.catalog["products"]:
                for cat in product["price_categories"]:
                    if cat["id"] != line["price_category_id"]:
                        continue
                    unit = cat["price"] + cat["handling_fee"]
                    total = unit * line["quantity"]
                    by_rate[product["tax_rate"]] = by_rate.get(product["tax_rate"], 0) + total
                    lines.append(
                        {
                            "product_name_ja": product["name_ja"],
                            "product_name_en": product["name_en"],
                            "category_name_ja": cat["name_ja"],
                            "category_name_en": cat["name_en"],
                            "quantity": line["quantity"],
                            "unit_price": unit,
                            "tax_rate": product["tax_rate"],
                            "line_total": total,
                        }
                    )
                    for _ in range(line["quantity"]):
                        self.next_ticket += 1
                        tickets.append(
                            {
                                "id": self.next_ticket,
                                "product_kind": product["kind"],
                                "product_name_ja": product["name_ja"],
                                "product_name_en": product["name_en"],
                                "category_name_ja": cat["name_ja"],
                                "category_name_en": cat["name_en"],
                                "price": unit,
                                "tax_rate": product["tax_rate"],
                                "valid_from": "2026-11-25",
                                "valid_until": "2026-11-25"
                                if product["kind"] == "day_admission"
                                else "2027-11-24",
                                "uses_total": product["uses"] or 1,
                                "qr_token": f"{QR_TOKEN}.{self.next_ticket}",
                            }
                        )
        total = sum(by_rate.values())
        return {
            "order": {
                "code": f"K{len(self.orders) + 1:05d}",
                "status": "paid",
                "total": total,
                "paid_at": "2026-11-25T10:15:00+09:00",
                "payment_method": body["payment"]["method"],
                "lines": lines,
                "tax_summary": [
                    {"rate": rate, "total": amount, "tax": amount * rate // (100 + rate)}
                    for rate, amount in sorted(by_rate.items())
                ],
            },
            "tickets": tickets,
            "facility": FACILITY,
        }


def make_kiosk(
    core: FakeCore,
    tmp_path: Path,
    *,
    terminal: PaymentTerminal | None = None,
    profile: str = "epson-tm-t88-ja",
    journal: Journal | None = None,
    printer: Escpos | None = None,
) -> Kiosk:
    """A kiosk wired to the fake core, a simulated terminal and a memory printer."""
    from escpos.printer import Dummy

    resolved = resolve_profile(profile)
    return Kiosk(
        CoreClient("http://core.test", TOKEN, transport=core.transport()),
        terminal or SimulatedTerminal(),
        printer or Dummy(profile=resolved.escpos_profile),
        resolved,
        journal or Journal(tmp_path / "journal.sqlite3"),
        retry_delay=0,
        sleep=lambda _: None,
    )


def make_config(tmp_path: Path, **overrides: Any) -> KioskConfig:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    values: dict[str, Any] = {
        "core_url": "http://core.test",
        "token_file": token_file,
        "journal_path": tmp_path / "journal.sqlite3",
        "printer": "memory",
    }
    values.update(overrides)
    return KioskConfig(**values)
