"""A fake of the core's kiosk API for kiosk tests, speaking the wire contract.

``FakeCore`` is an ``httpx.MockTransport`` handler: it decodes what the kiosk sends with
the contract's request structs (strict, as the core is) and answers with the contract's
response structs, so the fake cannot drift from the core either. It keeps the calls it
received and can be told to fail (``down``, ``fail_orders``, ``conflict``) so tests drive
each path. Its catalog is a struct the tests may change (``core.catalog.products[0]``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
from escpos.escpos import Escpos

from kiosk_driver.config import KioskConfig
from kiosk_driver.core_client import CoreClient
from kiosk_driver.journal import Journal
from kiosk_driver.profiles import resolve_profile
from kiosk_driver.sale import Kiosk
from kiosk_driver.terminal import PaymentTerminal, SimulatedTerminal
from kippu_contract.v1.common import FacilityOut
from kippu_contract.v1.kiosk import (
    CatalogOut,
    CheckoutFieldOut,
    EnrolIn,
    EnrolOut,
    KioskHeartbeatIn,
    KioskOrderIn,
    KioskOrderOut,
    KioskPaymentIn,
    MarkerOut,
    OrderLineIn,
    OrderLineOut,
    OrderOut,
    PriceCategoryOut,
    ProductOut,
    SlotOut,
    StaffCallIn,
    StaffCallOut,
    TaxLineOut,
    TicketOut,
)

TOKEN = "device-token-123"
QR_TOKEN = (
    "kp1.eyJ0IjoxMDEsImYiOjEsInYiOiIyMDI2LTExLTI1In0.c2lnbmF0dXJlLW9mLXRoZS10aWNrZXQtZWQyNTUxOQ"
)
SALE_DAY = dt.date(2026, 11, 25)
PAID_AT = dt.datetime(2026, 11, 25, 10, 15, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def facility() -> FacilityOut:
    return FacilityOut(
        id=1,
        slug="mori-park",
        name_ja="森のアスレチック",
        name_en="Forest Adventure Park",
        tax_registration_number="T9234567890123",
    )


def catalog() -> CatalogOut:
    """A day admission (adult, child) with a 〇 marker, a 10-ride coupon book, a waiver."""
    return CatalogOut(
        facility=facility(),
        products=[
            ProductOut(
                id=10,
                code="DAY",
                kind="day_admission",
                name_ja="入園券",
                name_en="Day admission",
                uses=1,
                tax_rate=10,
                requires_date=False,
                price_categories=[
                    PriceCategoryOut(100, "adult", "大人", "Adult", 1800, 0),
                    PriceCategoryOut(101, "child", "小人", "Child", 900, 0),
                ],
                marker=MarkerOut("〇", "空きあり", "Available", "plenty"),
            ),
            ProductOut(
                id=20,
                code="RIDE10",
                kind="coupon_book",
                name_ja="のりもの回数券",
                name_en="Ride coupon book",
                uses=10,
                tax_rate=10,
                requires_date=False,
                price_categories=[PriceCategoryOut(200, "any", "共通", "All ages", 3000, 0)],
            ),
        ],
        checkout_fields=[
            CheckoutFieldOut(
                name="waiver",
                kind="checkbox",
                label_ja="同意する",
                label_en="I agree",
                text_ja="けがの危険があることを理解しました",
                text_en="I understand the risks",
                required=True,
            ),
        ],
        payment_methods=["card", "emoney", "qr"],
    )


def every_kind_catalog() -> CatalogOut:
    """:func:`catalog` plus a timed admission (10:00 △ with 2 left, 11:00 ×, 12:00 〇), an
    annual pass with holders and a parking add-on for the day admission."""
    base = catalog()
    few = MarkerOut("△", "残りわずか", "Few left", "few")
    full = MarkerOut("×", "売切", "Sold out", "sold_out")
    plenty = MarkerOut("〇", "空きあり", "Available", "plenty")
    base.products += [
        ProductOut(
            id=30,
            code="ZIP",
            kind="timed_admission",
            name_ja="ジップライン",
            name_en="Zip line",
            uses=1,
            tax_rate=10,
            requires_date=True,
            price_categories=[PriceCategoryOut(300, "adult", "大人", "Adult", 1500, 0)],
            marker=few,
            slots=[
                SlotOut("10:00", 2, False, few),
                SlotOut("11:00", 0, True, full),
                SlotOut("12:00", 40, False, plenty),
            ],
        ),
        ProductOut(
            id=40,
            code="ANNUAL",
            kind="annual_pass",
            name_ja="年間パスポート",
            name_en="Annual passport",
            uses=0,
            tax_rate=10,
            requires_date=False,
            price_categories=[
                PriceCategoryOut(400, "adult", "大人", "Adult", 12000, 0),
                PriceCategoryOut(401, "child", "小人", "Child", 6000, 0),
            ],
            holder_required=True,
        ),
        ProductOut(
            id=50,
            code="PARK",
            kind="addon",
            name_ja="駐車場",
            name_en="Parking",
            uses=1,
            tax_rate=10,
            requires_date=False,
            price_categories=[PriceCategoryOut(500, "car", "普通車", "Car", 1000, 100)],
            is_addon=True,
            addon_for=["DAY", "ZIP"],
        ),
    ]
    return base


def _json(status: int, body: Any) -> httpx.Response:
    return httpx.Response(
        status, content=msgspec.json.encode(body), headers={"content-type": "application/json"}
    )


@dataclass
class FakeCore:
    """The kiosk API of the core, in memory."""

    catalog: CatalogOut = field(default_factory=catalog)
    tokens: set[str] = field(default_factory=lambda: {TOKEN})
    enrol_codes: dict[str, str] = field(default_factory=lambda: {"ENROL-1": TOKEN})
    calls: list[httpx.Request] = field(default_factory=list)
    orders: dict[str, KioskOrderOut] = field(default_factory=dict)  # by idempotency key
    heartbeats: list[dict[str, Any]] = field(default_factory=list)  # as the kiosk sent them
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
        try:
            return self._answer(path, request)
        except msgspec.ValidationError as exc:  # the core refuses what it cannot decode
            return _json(400, {"detail": f"Validation failed: {exc}"})

    def _answer(self, path: str, request: httpx.Request) -> httpx.Response:
        if path == "/enrol":
            code = msgspec.json.decode(request.content, type=EnrolIn).code
            if code not in self.enrol_codes:
                return _json(404, {"detail": "unknown enrolment code"})
            device = {"id": 7, "name": "Kiosk 1", "kind": "kiosk"}
            return _json(200, EnrolOut(self.enrol_codes.pop(code), device, facility()))
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") not in self.tokens:
            return _json(401, {"detail": "invalid device token"})
        if path == "/catalog":
            return _json(200, self.catalog)
        if path == "/heartbeat":
            msgspec.json.decode(request.content, type=KioskHeartbeatIn)
            self.heartbeats.append(json.loads(request.content))
            return httpx.Response(204)
        if path == "/orders":
            return self._order(request)
        if path == "/call-staff":
            call = msgspec.json.decode(request.content, type=StaffCallIn)
            self.staff_calls.append(msgspec.to_builtins(call))
            return _json(200, StaffCallOut(True, call.reason, call.detail, PAID_AT.isoformat()))
        return _json(404, {"detail": "not found"})

    def _order(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return _json(400, {"detail": "Idempotency-Key required"})
        if self.fail_orders:
            self.fail_orders -= 1
            return _json(503, {"detail": "database busy"})
        if self.conflict:
            return _json(409, {"detail": self.conflict})
        if key in self.orders:
            return _json(200, self.orders[key])
        order = msgspec.json.decode(request.content, type=KioskOrderIn)
        answer = self.build(order)
        if answer.order.total != order.payment.amount:
            return _json(409, {"detail": "amount mismatch"})
        self.orders[key] = answer
        if self.lose_order_responses:
            self.lose_order_responses -= 1
            raise httpx.ReadTimeout("response lost", request=request)
        return _json(201, answer)

    def build(self, order: KioskOrderIn) -> KioskOrderOut:
        """The answer the core would give to ``order`` (prices from the fake's catalog)."""
        lines, tickets, by_rate = [], [], {}
        for line in order.lines:
            for product in self.catalog.products:
                for cat in product.price_categories:
                    if cat.id != line.price_category_id:
                        continue
                    unit = cat.price + cat.handling_fee
                    total = unit * line.quantity
                    by_rate[product.tax_rate] = by_rate.get(product.tax_rate, 0) + total
                    lines.append(
                        OrderLineOut(
                            product_name_ja=product.name_ja,
                            product_name_en=product.name_en,
                            category_name_ja=cat.name_ja,
                            category_name_en=cat.name_en,
                            quantity=line.quantity,
                            unit_price=unit,
                            handling_fee=cat.handling_fee,
                            tax_rate=product.tax_rate,
                            line_total=total,
                            visit_date=line.visit_date,
                        )
                    )
                    for _ in range(line.quantity):
                        self.next_ticket += 1
                        day = product.kind == "day_admission"
                        tickets.append(
                            TicketOut(
                                id=self.next_ticket,
                                status="valid",
                                product_kind=product.kind,
                                product_name_ja=product.name_ja,
                                product_name_en=product.name_en,
                                category_name_ja=cat.name_ja,
                                category_name_en=cat.name_en,
                                price=unit,
                                tax_rate=product.tax_rate,
                                valid_from=SALE_DAY,
                                valid_until=SALE_DAY if day else dt.date(2027, 11, 24),
                                uses_total=product.uses,
                                uses_left=product.uses,
                                qr_token=f"{QR_TOKEN}.{self.next_ticket}",
                            )
                        )
        total = sum(by_rate.values())
        return KioskOrderOut(
            order=OrderOut(
                code=f"K{len(self.orders) + 1:05d}",
                channel="kiosk",
                status="paid",
                total=total,
                created_at=PAID_AT,
                paid_at=PAID_AT,
                payment_method=order.payment.method,
                lines=lines,
                tax_summary=[
                    TaxLineOut(rate, amount, amount * rate // (100 + rate))
                    for rate, amount in sorted(by_rate.items())
                ],
            ),
            tickets=tickets,
            facility=facility(),
        )


def answer_for(
    lines: list[tuple[int, int]], method: str = "card", core: FakeCore | None = None
) -> KioskOrderOut:
    """The core's answer to a sale of ``lines`` ((price category id, quantity) pairs)."""
    order = KioskOrderIn(
        lines=[OrderLineIn(category, quantity) for category, quantity in lines],
        payment=KioskPaymentIn(method=method, reference="R", amount=0),
    )
    return (core or FakeCore()).build(order)


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


def real_core_kiosk(core_http: Any, kiosk_token: str, tmp_path: Path) -> Kiosk:
    """A kiosk wired to the real core app (a Litestar ``TestClient``), a simulated
    terminal and a memory printer: the contract tests' kiosk."""
    from escpos.printer import Dummy

    profile = resolve_profile("epson-tm-t88-ja")
    return Kiosk(
        CoreClient(str(core_http.base_url), kiosk_token, http=core_http),
        SimulatedTerminal(),
        Dummy(profile=profile.escpos_profile),
        profile,
        Journal(tmp_path / "journal.sqlite3"),
        retry_delay=0,
        sleep=lambda _: None,
    )
