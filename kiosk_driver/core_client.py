"""HTTP client for the core's kiosk API (``/api/v1/kiosk/*``), with typed results.

The transport is injected: ``httpx.MockTransport`` in unit tests, ``httpx.ASGITransport``
over the real core in contract tests, the default network transport in production.

Errors map onto the driver's exception tree (full drawing in :mod:`kiosk_driver.errors`)::

    KioskError
    ├── OutOfService
    │   └── CoreUnavailable      connection error, timeout, 5xx
    └── CoreRefused              4xx, with the core's ``detail``
        ├── Unauthorized         401/403
        ├── EnrolmentRejected    400/404 on enrol
        ├── InvalidRequest       400/422
        └── OrderConflict        409: sold out or amount mismatch
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
import msgspec

from kiosk_driver.errors import (
    CoreRefused,
    CoreUnavailable,
    EnrolmentRejected,
    InvalidRequest,
    OrderConflict,
    Unauthorized,
)

API = "/api/v1/kiosk"


class Facility(msgspec.Struct):
    id: int
    name_ja: str
    name_en: str
    slug: str = ""
    tax_registration_number: str | None = None


class PriceCategory(msgspec.Struct):
    id: int
    code: str
    name_ja: str
    name_en: str
    price: int
    handling_fee: int = 0

    @property
    def unit_amount(self) -> int:
        """What the visitor pays per unit: the price plus any separate handling fee."""
        return self.price + self.handling_fee


class Marker(msgspec.Struct):
    symbol: str
    label_ja: str = ""
    label_en: str = ""


class Product(msgspec.Struct):
    id: int
    code: str
    kind: str
    name_ja: str
    name_en: str
    tax_rate: int
    price_categories: list[PriceCategory]
    uses: int | None = None
    marker: Marker | None = None

    @property
    def sold_out(self) -> bool:
        return self.marker is not None and self.marker.symbol == "×"


class CheckoutField(msgspec.Struct):
    name: str
    label_ja: str
    label_en: str
    kind: str = "checkbox"
    text_ja: str = ""
    text_en: str = ""
    required: bool = False


class Catalog(msgspec.Struct):
    facility: Facility
    products: list[Product]
    checkout_fields: list[CheckoutField] = []
    payment_methods: list[str] = []

    def category(self, category_id: int) -> tuple[Product, PriceCategory]:
        """The product and price category for an id; KeyError if the catalog lacks it."""
        for product in self.products:
            for category in product.price_categories:
                if category.id == category_id:
                    return product, category
        raise KeyError(category_id)

    def product(self, product_id: int) -> Product:
        for product in self.products:
            if product.id == product_id:
                return product
        raise KeyError(product_id)


class Device(msgspec.Struct):
    id: int
    name: str


class Enrolment(msgspec.Struct):
    token: str
    device: Device
    facility: dict[str, Any] = {}


class OrderLine(msgspec.Struct):
    product_name_ja: str
    product_name_en: str
    category_name_ja: str
    category_name_en: str
    quantity: int
    unit_price: int
    tax_rate: int
    line_total: int


class TaxSummary(msgspec.Struct):
    rate: int
    total: int
    tax: int


class Order(msgspec.Struct):
    code: str
    status: str
    total: int
    paid_at: str | None = None
    payment_method: str | None = None
    lines: list[OrderLine] = []
    tax_summary: list[TaxSummary] = []


class Ticket(msgspec.Struct):
    id: int | str
    product_kind: str
    product_name_ja: str
    product_name_en: str
    category_name_ja: str
    category_name_en: str
    price: int
    tax_rate: int
    qr_token: str
    valid_from: str | None = None
    valid_until: str | None = None
    uses_total: int | None = None
    # Tear-off coupon books (core TicketOut): coupons sharing ``book_id`` print as one strip.
    book_id: int | None = None
    coupon_no: int = 0
    coupon_count: int = 0


class Confirmation(msgspec.Struct):
    """The core's answer to a confirmed order; also what the journal stores."""

    order: Order
    tickets: list[Ticket]
    facility: Facility
    replayed: bool = False  # True when the core answered 200 to a repeated key


class CartLine(msgspec.Struct):
    price_category_id: int
    quantity: int


class Payment(msgspec.Struct):
    method: str
    reference: str
    amount: int


class OrderRequest(msgspec.Struct):
    lines: list[CartLine]
    payment: Payment
    answers: dict[str, bool] = {}
    locale: Literal["ja", "en"] = "ja"


class Heartbeat(msgspec.Struct):
    printer: str = "ok"
    paper: str = "ok"
    terminal: str = "ok"
    last_sale_at: str | None = None
    version: str = ""
    out_of_service: str | None = None  # why the kiosk is not selling, if it is not
    unconfirmed: int = 0  # paid, waiting for the core
    unprinted: int = 0  # confirmed, waiting for the printer
    void_failed: int = 0  # refunds staff must make by hand


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else (response.text[:200] or response.reason_phrase)


class CoreClient:
    """Synchronous client: the kiosk serves one visitor at a time, so blocking is fine."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
    ) -> None:
        # ``http`` lets a contract test pass Litestar's sync TestClient (an httpx.Client
        # bound to the core app), since httpx.ASGITransport only works with AsyncClient.
        self._http = http or httpx.Client(base_url=base_url, transport=transport, timeout=timeout)
        self.token = token

    def close(self) -> None:
        self._http.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        enrol: bool = False,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if auth:
            if not self.token:
                raise Unauthorized(401, "kiosk is not enrolled (no device token)")
            all_headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self._http.request(method, API + path, json=json, headers=all_headers)
        except httpx.TransportError as exc:  # connect, read, timeouts, protocol errors
            raise CoreUnavailable(f"core unreachable: {exc!r}") from exc
        status = response.status_code
        if status >= 500:
            raise CoreUnavailable(f"core error {status}: {_detail(response)}")
        if status in (401, 403):
            raise Unauthorized(status, _detail(response))
        if enrol and status in (400, 404):
            raise EnrolmentRejected(status, _detail(response))
        if status == 409:
            raise OrderConflict(status, _detail(response))
        if status in (400, 422):
            raise InvalidRequest(status, _detail(response))
        if status >= 400:
            raise CoreRefused(status, _detail(response))
        return response

    def enrol(self, code: str) -> Enrolment:
        """Exchange a one-time enrolment code for a device token (and keep the token)."""
        response = self._request("POST", "/enrol", json={"code": code}, auth=False, enrol=True)
        enrolment = msgspec.convert(response.json(), Enrolment)
        self.token = enrolment.token
        return enrolment

    def catalog(self) -> Catalog:
        """What this kiosk may sell today, with markers, consent fields and payment methods."""
        return msgspec.convert(self._request("GET", "/catalog").json(), Catalog)

    def create_order(self, request: OrderRequest, idempotency_key: str) -> Confirmation:
        """Confirm a paid sale. Replaying the same key returns the same order (200)."""
        response = self._request(
            "POST",
            "/orders",
            json=msgspec.to_builtins(request),
            headers={"Idempotency-Key": idempotency_key},
        )
        confirmation = msgspec.convert(response.json(), Confirmation)
        confirmation.replayed = response.status_code == 200
        return confirmation

    def heartbeat(self, beat: Heartbeat) -> None:
        """Report health; the core answers 204."""
        self._request("POST", "/heartbeat", json=msgspec.to_builtins(beat))

    def call_staff(self, reason: str = "visitor", detail: str = "") -> None:
        """Open (or keep open) a staff call for this kiosk; staff see it in the device list."""
        self._request("POST", "/call-staff", json={"reason": reason, "detail": detail})
