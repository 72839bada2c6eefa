"""The workbench's client of the core API: staff login and the staff actions (CoreAPI).

The workbench never reads the OLTP database; it proves who a manager is by asking the core
(``POST /api/v1/auth/login``) and keeps the returned token for later actions, so the core
decides roles. Requests and answers are the contract's shapes
(:mod:`kippu_contract.v1.staff`): answers decode tolerantly, so a newer core may add
fields; an answer that lacks a field the workbench needs is the core being unavailable,
not a traceback. The httpx transport is injectable for tests (``httpx.MockTransport``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from kippu_contract.v1.catalog import (
    CapacityIn,
    CapacityOut,
    PriceCategoryIn,
    PriceCategoryOut,
    ProductIn,
    ProductOut,
)
from kippu_contract.v1.staff import (
    AllowedProductsIn,
    AuditPageOut,
    CancelIn,
    CancellationOut,
    CompositionIn,
    DeviceIn,
    DeviceOut,
    FacilitySettingsIn,
    FacilitySettingsOut,
    LoginIn,
    LoginOut,
    LookupOrderOut,
    MailingIn,
    MailingOut,
    NewDeviceOut,
    PaymentCredentialsOut,
    ProviderCredentialsOut,
    QuoteOut,
    RefundOut,
    SalesReportOut,
    StaffMemberChangeIn,
    StaffMemberIn,
    StaffMemberOut,
    StaffPasswordOut,
    StatementOut,
    TestMailIn,
    TestMailOut,
    WebhookDeliveryPageOut,
    WebhookEndpointOut,
)
from kippu_contract.v1.vouchers import VoucherChangeIn, VoucherIn, VoucherOut

log = logging.getLogger(__name__)

LOGIN_PATH = "/api/v1/auth/login"
LOGOUT_PATH = "/api/v1/auth/logout"

T = TypeVar("T")


class CoreUnavailable(Exception):
    """The core could not be reached or answered with an unexpected status or shape."""


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    """A staff member the core accepted, with the facility they belong to.

    The workbench's own cookie shape (not the core's): what the pages need of a login.
    """

    token: str
    role: str
    email: str
    facility_id: int
    facility_slug: str
    facility_name_ja: str
    facility_name_en: str

    @classmethod
    def from_login(cls, answer: LoginOut) -> StaffIdentity:
        return cls(
            token=answer.token,
            role=answer.role,
            email=answer.staff.email,
            facility_id=answer.facility.id,
            facility_slug=answer.facility.slug,
            facility_name_ja=answer.facility.name_ja,
            facility_name_en=answer.facility.name_en,
        )

    def facility_name(self, lang: str) -> str:
        return self.facility_name_ja if lang == "ja" else self.facility_name_en

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> StaffIdentity:
        return cls(**json.loads(text))


def decode(content: bytes, shape: type[T]) -> T:
    """The core's JSON answer as ``shape``; :class:`CoreUnavailable` if it does not fit."""
    try:
        return msgspec.json.decode(content, type=shape)
    except msgspec.ValidationError as exc:  # a subclass of DecodeError: checked first
        raise CoreUnavailable(f"unexpected answer from the core: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise CoreUnavailable(f"the core's answer is not JSON: {exc}") from exc


async def login(
    core_url: str,
    facility: str,
    email: str,
    password: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 10.0,
) -> StaffIdentity | None:
    """Check staff credentials with the core; None when the core refuses them (401/403).

    Raises :class:`CoreUnavailable` when the core cannot answer, so the login page can
    say "try again" instead of "wrong password".
    """
    if not (facility and email and password):
        return None
    payload = msgspec.json.encode(LoginIn(facility=facility, email=email, password=password))
    try:
        async with httpx.AsyncClient(
            base_url=core_url, transport=transport, timeout=timeout
        ) as client:
            response = await client.post(
                LOGIN_PATH, content=payload, headers={"Content-Type": "application/json"}
            )
    except httpx.HTTPError as exc:
        raise CoreUnavailable(str(exc)) from exc
    if response.status_code in (400, 401, 403, 404, 422):
        return None
    if response.status_code != 200:
        raise CoreUnavailable(f"core answered {response.status_code} to login")
    return StaffIdentity.from_login(decode(response.content, LoginOut))


async def logout(
    core_url: str,
    token: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 10.0,
) -> bool:
    """Ask the core to end every token of this staff member; whether it did.

    A token the core no longer accepts (401) is as good as ended. A core that cannot be
    reached is logged and reported as False: the workbench forgets its cookie anyway.
    """
    try:
        async with httpx.AsyncClient(
            base_url=core_url, transport=transport, timeout=timeout
        ) as client:
            response = await client.post(LOGOUT_PATH, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        log.warning("workbench logout: core unavailable: %s", exc)
        return False
    return response.status_code in (204, 401)


class CoreRefused(Exception):
    """The core answered with a 4xx: not allowed (403), not found, or invalid input."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class CoreAPI:
    """The staff member's actions through the core API, with their own token.

    Synchronous on purpose: state classes call it from plain methods, and tests pass the
    core's ``litestar.testing.TestClient`` (an ``httpx.Client``) as ``http``, so the real
    core, its guards and its database answer without a server.
    """

    def __init__(self, http: httpx.Client, token: str) -> None:
        self.http = http
        self._headers = {"Authorization": f"Bearer {token}"}
        #: The language the core's refusals are asked in ("ja", "en"); None: the core's.
        self.language: str | None = None

    @classmethod
    def connect(cls, core_url: str, token: str, timeout: float = 15.0) -> CoreAPI:
        return cls(httpx.Client(base_url=core_url, timeout=timeout), token)

    def _call(
        self,
        method: str,
        path: str,
        body: msgspec.Struct | dict[str, str] | None = None,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> bytes:
        """The answer's body; raises :class:`CoreRefused` on 4xx, :class:`CoreUnavailable` else."""
        headers = {**self._headers, **(headers or {})}
        if self.language:
            headers.setdefault("Accept-Language", self.language)
        if body is not None:
            kwargs["content"] = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        try:
            response = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise CoreUnavailable(str(exc)) from exc
        if 400 <= response.status_code < 500:
            raise CoreRefused(response.status_code, _detail(response))
        if response.status_code >= 300:
            raise CoreUnavailable(f"core answered {response.status_code} to {path}")
        return response.content

    # Each method names the route it uses; tests/core/accounts/test_roles_matrix.py lists the same.
    def devices(self) -> list[DeviceOut]:
        return decode(self._call("GET", "/api/v1/devices"), list[DeviceOut])

    def create_device(self, kind: str, name: str) -> NewDeviceOut:
        """A new kiosk or gate; the answer's enrolment code is shown this once."""
        body = DeviceIn(kind=kind, name=name)
        return decode(self._call("POST", "/api/v1/devices", body), NewDeviceOut)

    def revoke_device(self, device_id: int) -> None:
        self._call("POST", f"/api/v1/devices/{int(device_id)}/revoke")

    def set_device_products(self, device_id: int, product_ids: list[int]) -> None:
        body = AllowedProductsIn(product_ids=[int(p) for p in product_ids])
        self._call("POST", f"/api/v1/devices/{int(device_id)}/products", body)

    def staff_members(self) -> list[StaffMemberOut]:
        return decode(self._call("GET", "/api/v1/staff"), list[StaffMemberOut])

    def add_staff_member(self, member: StaffMemberIn) -> StaffPasswordOut:
        return decode(self._call("POST", "/api/v1/staff", member), StaffPasswordOut)

    def change_staff_member(self, staff_id: int, change: StaffMemberChangeIn) -> StaffMemberOut:
        answer = self._call("PATCH", f"/api/v1/staff/{int(staff_id)}", change)
        return decode(answer, StaffMemberOut)

    def reset_staff_password(self, staff_id: int) -> StaffPasswordOut:
        answer = self._call("POST", f"/api/v1/staff/{int(staff_id)}/reset-password")
        return decode(answer, StaffPasswordOut)

    def audit(self, limit: int = 50, before: int | None = None) -> AuditPageOut:
        params: dict[str, int] = {"limit": limit}
        if before is not None:
            params["before"] = before
        return decode(self._call("GET", "/api/v1/audit", params=params), AuditPageOut)

    def lookup_orders(self, query: str) -> list[LookupOrderOut]:
        answer = self._call("GET", "/api/v1/orders/lookup", params={"q": query})
        return decode(answer, list[LookupOrderOut])

    def cancellation_quote(self, code: str, ticket_ids: list[int] | None) -> QuoteOut:
        params = {"ticket_ids": ",".join(map(str, ticket_ids))} if ticket_ids else {}
        path = f"/api/v1/orders/{quote(code, safe='')}/cancellation-quote"
        return decode(self._call("GET", path, params=params), QuoteOut)

    def cancel_order(self, code: str, change: CancelIn, idempotency_key: str) -> CancellationOut:
        """Cancel under the policy; the same ``idempotency_key`` again cancels nothing more."""
        answer = self._call(
            "POST",
            f"/api/v1/orders/{quote(code, safe='')}/cancel",
            change,
            headers={"Idempotency-Key": idempotency_key},
        )
        return decode(answer, CancellationOut)

    def refunds(self, state: str | None = None) -> list[RefundOut]:
        params = {"state": state} if state else {}
        return decode(self._call("GET", "/api/v1/refunds", params=params), list[RefundOut])

    def retry_refund(self, refund_id: int) -> RefundOut:
        return decode(self._call("POST", f"/api/v1/refunds/{int(refund_id)}/retry"), RefundOut)

    def billing_statements(self) -> list[StatementOut]:
        return decode(self._call("GET", "/api/v1/billing/statements"), list[StatementOut])

    def statement_document(self, month: str, kind: str) -> bytes:
        """The statement of ``month`` (YYYY-MM) as ``pdf`` or ``csv``."""
        if kind not in ("pdf", "csv"):
            raise ValueError(kind)
        return self._call("GET", f"/api/v1/billing/statements/{quote(month, safe='')}/{kind}")

    def sales_report(self, day_from: object, day_to: object) -> SalesReportOut:
        params = {"from": str(day_from), "to": str(day_to)}
        return decode(self._call("GET", "/api/v1/reports/sales", params=params), SalesReportOut)

    def send_mailing(
        self, composition: CompositionIn, customer_keys: list[str], segment: dict[str, Any]
    ) -> MailingOut:
        body = MailingIn(composition=composition, customer_keys=customer_keys, segment=segment)
        return decode(self._call("POST", "/api/v1/mailings", body), MailingOut)

    def send_test_mail(self, composition: CompositionIn, locale: str) -> TestMailOut:
        body = TestMailIn(composition=composition, locale=locale)
        return decode(self._call("POST", "/api/v1/mailings/test", body), TestMailOut)

    def mailings(self) -> list[MailingOut]:
        return decode(self._call("GET", "/api/v1/mailings"), list[MailingOut])

    def facility_settings(self) -> FacilitySettingsOut:
        return decode(self._call("GET", "/api/v1/facility/settings"), FacilitySettingsOut)

    def update_facility_settings(self, changes: FacilitySettingsIn) -> FacilitySettingsOut:
        answer = self._call("PUT", "/api/v1/facility/settings", changes)
        return decode(answer, FacilitySettingsOut)

    def payment_credentials(self) -> PaymentCredentialsOut:
        answer = self._call("GET", "/api/v1/facility/payment-credentials")
        return decode(answer, PaymentCredentialsOut)

    def store_payment_credentials(
        self, provider: str, values: dict[str, str]
    ) -> ProviderCredentialsOut:
        path = f"/api/v1/facility/payment-credentials/{quote(provider, safe='')}"
        return decode(self._call("PUT", path, values), ProviderCredentialsOut)

    def vouchers(self) -> list[VoucherOut]:
        return decode(self._call("GET", "/api/v1/vouchers"), list[VoucherOut])

    def create_voucher(self, voucher: VoucherIn) -> VoucherOut:
        return decode(self._call("POST", "/api/v1/vouchers", voucher), VoucherOut)

    def change_voucher(self, voucher_id: int, changes: VoucherChangeIn) -> VoucherOut:
        answer = self._call("PATCH", f"/api/v1/vouchers/{int(voucher_id)}", changes)
        return decode(answer, VoucherOut)

    def webhook_endpoints(self) -> list[WebhookEndpointOut]:
        return decode(self._call("GET", "/api/v1/webhooks/endpoints"), list[WebhookEndpointOut])

    def webhook_deliveries(self, limit: int, before: int | None = None) -> WebhookDeliveryPageOut:
        params: dict[str, int] = {"limit": limit}
        if before is not None:
            params["before"] = before
        answer = self._call("GET", "/api/v1/webhooks/deliveries", params=params)
        return decode(answer, WebhookDeliveryPageOut)

    def catalog_products(self) -> list[ProductOut]:
        return decode(self._call("GET", "/api/v1/catalog/products"), list[ProductOut])

    def create_product(self, product: ProductIn) -> ProductOut:
        return decode(self._call("POST", "/api/v1/catalog/products", product), ProductOut)

    def replace_product(self, product_id: int, product: ProductIn) -> ProductOut:
        answer = self._call("PUT", f"/api/v1/catalog/products/{int(product_id)}", product)
        return decode(answer, ProductOut)

    def add_price(self, product_id: int, price: PriceCategoryIn) -> PriceCategoryOut:
        answer = self._call("POST", f"/api/v1/catalog/products/{int(product_id)}/prices", price)
        return decode(answer, PriceCategoryOut)

    def change_price(self, price_id: int, price: PriceCategoryIn) -> PriceCategoryOut:
        answer = self._call("PUT", f"/api/v1/catalog/prices/{int(price_id)}", price)
        return decode(answer, PriceCategoryOut)

    def delete_price(self, price_id: int) -> None:
        self._call("DELETE", f"/api/v1/catalog/prices/{int(price_id)}")

    def capacities(self, product_id: int, day_from: object, day_to: object) -> list[CapacityOut]:
        params = {"from": str(day_from), "to": str(day_to)}
        path = f"/api/v1/catalog/products/{int(product_id)}/capacities"
        return decode(self._call("GET", path, params=params), list[CapacityOut])

    def set_capacities(self, product_id: int, change: CapacityIn) -> list[CapacityOut]:
        path = f"/api/v1/catalog/products/{int(product_id)}/capacities"
        return decode(self._call("PUT", path, change), list[CapacityOut])


def _detail(response: httpx.Response) -> str:
    """The ``detail`` of an error answer, or the start of its text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", "")) if isinstance(body, dict) else str(body)[:200]
