"""HTTP client for the core's kiosk API (``/api/v1/kiosk/*``), speaking the wire contract.

Every request body is encoded from, and every answer decoded into, the very structs the
core itself uses (:mod:`kippu_contract.v1.kiosk`), so the two sides cannot drift apart.
The answers' structs ignore fields they do not know, so a newer core that adds a field
does not break this kiosk; the requests are refused by the core if they carry a field it
does not know, so a typo here fails loudly in the contract tests.

The transport is injected: ``httpx.MockTransport`` in unit tests, the real core app in
contract tests, the default network transport in production.

Errors map onto the driver's exception tree (full drawing in :mod:`kiosk_driver.errors`)::

    KioskError
    ├── OutOfService
    │   └── CoreUnavailable      connection error, timeout, 5xx
    │       └── UnexpectedAnswer an answer that does not fit the contract
    └── CoreRefused              4xx, with the core's ``detail``
        ├── Unauthorized         401/403
        ├── EnrolmentRejected    400/404 on enrol
        ├── InvalidRequest       400/422
        └── OrderConflict        409: sold out, amount mismatch, a stale stay charge
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import httpx
import msgspec

from kiosk_driver.errors import (
    CoreRefused,
    CoreUnavailable,
    EnrolmentRejected,
    InvalidRequest,
    OrderConflict,
    Unauthorized,
    UnexpectedAnswer,
)
from kippu_contract.v1.kiosk import (
    CatalogOut,
    EnrolIn,
    EnrolOut,
    KioskHeartbeatIn,
    KioskOrderIn,
    KioskOrderOut,
    OrderLineIn,
    StaffCallIn,
    StaffCallOut,
    StayChargeOut,
    StayOrderIn,
    VoucherQuoteIn,
    VoucherQuoteOut,
)

API = "/api/v1/kiosk"
T = TypeVar("T")


@dataclass(frozen=True)
class OrderReply:
    """The core's answer to a kiosk order, and whether it was a replay of an earlier call.

    ``replayed`` is the core's 200 (rather than 201) to a repeated Idempotency-Key: the
    order was created by an earlier attempt whose answer was lost.
    """

    answer: KioskOrderOut
    replayed: bool


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else (response.text[:200] or response.reason_phrase)


def _decode(response: httpx.Response, shape: type[T]) -> T:
    try:
        return msgspec.json.decode(response.content, type=shape)
    except msgspec.DecodeError as exc:  # ValidationError too: the answer breaks the contract
        raise UnexpectedAnswer(f"the core's answer is not a {shape.__name__}: {exc}") from exc


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
        body: msgspec.Struct | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        auth: bool = True,
        enrol: bool = False,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if auth:
            if not self.token:
                raise Unauthorized(401, "kiosk is not enrolled (no device token)")
            all_headers["Authorization"] = f"Bearer {self.token}"
        content: bytes | None = None
        if body is not None:
            content = msgspec.json.encode(body)
            all_headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(
                method, API + path, content=content, headers=all_headers, params=params
            )
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

    def enrol(self, code: str) -> EnrolOut:
        """Exchange a one-time enrolment code for a device token (and keep the token)."""
        response = self._request("POST", "/enrol", body=EnrolIn(code=code), auth=False, enrol=True)
        enrolment = _decode(response, EnrolOut)
        self.token = enrolment.token
        return enrolment

    def catalog(self) -> CatalogOut:
        """What this kiosk may sell today, with markers, consent fields and payment methods."""
        return _decode(self._request("GET", "/catalog"), CatalogOut)

    def create_order(self, order: KioskOrderIn, idempotency_key: str) -> OrderReply:
        """Confirm a paid sale. Replaying the same key returns the same order (200)."""
        response = self._request(
            "POST", "/orders", body=order, headers={"Idempotency-Key": idempotency_key}
        )
        return OrderReply(_decode(response, KioskOrderOut), replayed=response.status_code == 200)

    def stay_charge(self, token: str) -> StayChargeOut:
        """What the time stay of a scanned ticket QR owes now (404: no stay in progress)."""
        return _decode(
            self._request("GET", "/stays/charge", params={"token": token}), StayChargeOut
        )

    def pay_stay(self, payment: StayOrderIn) -> OrderReply:
        """Confirm a stay charge paid on the terminal. The quoted ``period_total`` is the
        idempotency key: sending it again returns the same order (200); a stale quote is
        an ``OrderConflict`` (409 ``charge_changed``), after which the payment is voided."""
        response = self._request("POST", "/stays/orders", body=payment)
        return OrderReply(_decode(response, KioskOrderOut), replayed=response.status_code == 200)

    def voucher_quote(self, lines: list[OrderLineIn], code: str) -> VoucherQuoteOut:
        """What a typed voucher code takes off the cart, and the amount to charge."""
        body = VoucherQuoteIn(lines=lines, voucher_code=code)
        return _decode(self._request("POST", "/voucher-quote", body=body), VoucherQuoteOut)

    def heartbeat(self, beat: KioskHeartbeatIn) -> None:
        """Report health; the core answers 204."""
        self._request("POST", "/heartbeat", body=beat)

    def call_staff(self, reason: str = "visitor", detail: str = "") -> StaffCallOut:
        """Open (or keep open) a staff call for this kiosk; staff see it in the device list."""
        response = self._request(
            "POST", "/call-staff", body=StaffCallIn(reason=reason, detail=detail)
        )
        return _decode(response, StaffCallOut)
