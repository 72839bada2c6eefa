"""Paidy direct (plugin ``paidy_payments``): deferred payment, authorised in the browser.

Credentials (per facility, stored encrypted): ``secret_key`` (``sk_…``, for the API),
``public_key`` (``pk_…``, for Paidy checkout in the browser), optionally ``api_base``
(default ``https://api.paidy.com``; Paidy has no separate test host, test keys make test
payments). Register ``<base url>/api/v1/payments/paidy/webhook/<facility slug>`` as the
webhook URL in the Paidy Merchant Dashboard.

Which documented behaviour each piece follows (paidy.com/docs/api/en):

- Every request: ``Authorization: Bearer <secret key>`` and ``Paidy-Version: 2018-04-10``
  (§1-2), JSON bodies, amounts in yen.
- Payments are created by Paidy checkout (JavaScript) with our public key; the visitor
  passes the credit check with phone number and e-mail there, and the browser gets a
  payment id (``pay_…``). ``start`` therefore returns ``NextAction("client_confirm")``
  with what the checkout needs, including ``metadata.kippu_payment_id`` so that Paidy
  echoes our payment back to us.
- ``GET /payments/{id}`` (§2-5) returns status ``AUTHORIZED``, ``CLOSED`` (captured,
  closed or cancelled: ``captures`` tells which) or ``REJECTED``, the amount and our
  metadata. We verify amount, currency and order reference before capturing.
- ``POST /payments/{id}/captures`` (§2-3) captures an AUTHORIZED payment;
  ``POST /payments/{id}/refunds`` (§2-4) refunds ``amount`` of a ``capture_id``;
  ``POST /payments/{id}/close`` (§2-7) gives up an authorised payment.
- Paidy documents no idempotency key. Captures are made safe by capturing only what a
  fresh GET shows as AUTHORIZED (a repeat on a CLOSED payment is answered by re-reading
  it); refunds carry ``metadata.kippu_refund_key`` and are looked up before being made.
- Webhooks carry ``payment_id`` and a ``status`` but no signature we can check, so they
  are hints: the payment is re-fetched with our secret key and only Paidy's answer counts.

When Paidy checkout closes with an authorised payment, the browser posts its id to
``POST /api/v1/payments/paidy/authorized/<facility slug>/<payment id>`` with the order's
access key; the payment is retrieved, checked (our payment id, order reference, amount)
and captured there, so the visitor does not wait for the webhook.
"""

from __future__ import annotations

import json
from typing import Any

from litestar import MediaType, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.plugin_api import (
    CredentialField,
    InvalidInput,
    NextAction,
    NotificationRejected,
    OperationNotSupported,
    PaymentProvider,
    PaymentStart,
    PluginHost,
    ProviderEvent,
    ProviderHTTP,
    ProviderRejected,
    RefundResult,
    Settings,
    Signer,
    apply_event,
    hookimpl,
    instantiate_provider,
    json_or_empty,
    provider_payment,
    webhook_route,
)

PLUGIN_NAME = "paidy_payments"
API_BASE = "https://api.paidy.com"
API_VERSION = "2018-04-10"


class PaidyProvider(PaymentProvider):
    name = "paidy"
    credential_fields = (
        CredentialField("secret_key", "シークレットキー", "Secret key"),
        CredentialField("public_key", "パブリックキー", "Public key", secret=False),
        CredentialField(
            "api_version", "APIバージョン(通常は空欄)", "API version (usually empty)", secret=False
        ),
        CredentialField(
            "api_base",
            "APIのURL(テスト環境用、通常は空欄)",
            "API URL (test environment; usually empty)",
            secret=False,
        ),
    )
    methods = ("paidy",)

    def method_label(self, method: str, locale: str) -> str:
        return "あと払い(ペイディ)" if locale == "ja" else "Paidy (pay later)"

    def _http(self) -> ProviderHTTP:
        secret = self.credentials.get("secret_key", "")
        version = self.credentials.get("api_version") or API_VERSION

        def headers(method: str, path: str, body: bytes) -> dict[str, str]:
            return {
                "Authorization": f"Bearer {secret}",
                "Paidy-Version": version,
                "Content-Type": "application/json",
            }

        return ProviderHTTP(
            self.credentials.get("api_base") or API_BASE,
            provider=self.name,
            headers=headers,
            transport=self.transport,
        )

    async def _call(
        self, method: str, path: str, payload: dict[str, Any] | None = None, *, retry: bool = True
    ) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload).encode() if payload is not None else b""
        response = await self._http().request(method, path, content=body, retry=retry)
        return response.status_code, json_or_empty(response)

    async def _payment(self, paidy_id: str) -> dict[str, Any]:
        status, answer = await self._call("GET", f"/payments/{paidy_id}")
        if status >= 400:
            raise ProviderRejected(
                f"Paidy does not know payment {paidy_id}.",
                "ペイディの決済が見つかりません。",
                provider_code=str(answer.get("code", status)),
            )
        return answer

    def _event(self, payment: dict[str, Any]) -> ProviderEvent:
        status, captures = payment.get("status"), payment.get("captures") or []
        if payment.get("currency", "JPY") != "JPY":
            state = "failed"
        elif status == "AUTHORIZED":
            state = "authorized"
        elif status == "CLOSED" and captures:
            state = "refunded" if payment.get("refunds") and _refunded_all(payment) else "paid"
        elif status in ("CLOSED", "REJECTED"):
            state = "failed"
        else:
            state = "pending"
        amount = (
            sum(int(c.get("amount", 0)) for c in captures)
            if state in ("paid", "refunded")
            else int(payment.get("amount", 0))
        )
        metadata = payment.get("metadata") or {}
        return ProviderEvent(
            provider_ref=payment["id"],
            state=state,
            amount=amount,
            merchant_ref=str(metadata.get("kippu_payment_id", "")),
            detail={
                "paidy_status": status,
                "order_ref": (payment.get("order") or {}).get("order_ref", ""),
                "capture_ids": [c.get("id") for c in captures],
                "reason": f"paidy: {str(status).lower()}",
            },
        )

    def _check_facility(self, payment: dict[str, Any]) -> None:
        facility = (payment.get("metadata") or {}).get("kippu_facility")
        if facility and facility != self.facility.slug:
            raise NotificationRejected(f"Paidy payment belongs to facility {facility!r}")

    async def start(self, payment: PaymentStart) -> NextAction:
        if payment.method != "paidy":
            raise OperationNotSupported(f"Paidy does not offer {payment.method}.")
        # Nothing to create server-side: Paidy checkout creates the payment in the browser.
        return NextAction(
            kind="client_confirm",
            data={
                "sdk": "paidy-checkout",
                "api_key": self.credentials.get("public_key", ""),
                "payload": {
                    "amount": payment.amount,
                    "currency": "JPY",
                    "store_name": self.facility.name_ja,
                    "buyer": {"email": payment.customer_email, "name1": payment.customer_name},
                    "order": {
                        "order_ref": payment.order_code,
                        "items": [
                            {
                                "title": payment.order_code,
                                "quantity": 1,
                                "unit_price": payment.amount,
                            }
                        ],
                    },
                    "metadata": {
                        "kippu_payment_id": str(payment.payment_id),
                        "kippu_facility": self.facility.slug,
                    },
                },
            },
        )

    async def query_status(self, provider_ref: str) -> ProviderEvent:
        payment = await self._payment(provider_ref)
        self._check_facility(payment)
        return self._event(payment)

    async def capture(
        self, provider_ref: str, amount: int, *, idempotency_key: str
    ) -> ProviderEvent | None:
        current = await self._payment(provider_ref)
        if current.get("status") != "AUTHORIZED":
            return self._event(current)  # captured (or closed) already: nothing to repeat
        if int(current.get("amount", -1)) != amount:
            raise ProviderRejected(
                f"Paidy authorised {current.get('amount')} yen, not {amount}.",
                "ペイディの承認金額がご注文と一致しません。",
            )
        # Not retried blindly: without an idempotency key a retry is a new GET + check.
        status, answer = await self._call(
            "POST",
            f"/payments/{provider_ref}/captures",
            {"metadata": {"kippu_key": idempotency_key}},
            retry=False,
        )
        if status >= 400:
            answer = await self._payment(provider_ref)
        return self._event(answer)

    async def refund(
        self, provider_ref: str, amount: int, *, idempotency_key: str, reason: str = ""
    ) -> RefundResult:
        payment = await self._payment(provider_ref)
        for existing in payment.get("refunds") or []:
            if (existing.get("metadata") or {}).get("kippu_refund_key") == idempotency_key:
                return RefundResult(existing["id"], int(existing.get("amount", amount)), "refunded")
        captures = payment.get("captures") or []
        if not captures:
            raise OperationNotSupported(
                "This Paidy payment was never captured.", "未確定のペイディ決済は返金できません。"
            )
        status, answer = await self._call(
            "POST",
            f"/payments/{provider_ref}/refunds",
            {
                "capture_id": captures[0]["id"],
                "amount": amount,
                "reason": reason or None,
                "metadata": {"kippu_refund_key": idempotency_key},
            },
            retry=False,
        )
        if status >= 400:
            raise ProviderRejected(
                f"Paidy refused the refund: {answer.get('code', status)}",
                "ペイディが返金を受け付けませんでした。",
            )
        for refund in answer.get("refunds") or []:
            if (refund.get("metadata") or {}).get("kippu_refund_key") == idempotency_key:
                return RefundResult(refund["id"], int(refund.get("amount", amount)), "refunded")
        return RefundResult("", amount, "pending")

    async def cancel(self, provider_ref: str, *, idempotency_key: str) -> None:
        # Closing twice is harmless: the second answer is simply the closed payment.
        status, answer = await self._call("POST", f"/payments/{provider_ref}/close", {})
        if status >= 400:
            raise ProviderRejected(
                f"Paidy refused to close: {answer.get('code', status)}",
                "ペイディが取り消しを受け付けませんでした。",
            )

    async def handle_notification(
        self, headers: dict[str, str], body: bytes
    ) -> ProviderEvent | None:
        try:
            hint = json.loads(body)
            paidy_id = str(hint["payment_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise NotificationRejected("body is not a Paidy notification") from exc
        if not paidy_id.startswith("pay_"):
            raise NotificationRejected(f"{paidy_id!r} is not a Paidy payment id")
        try:
            return await self.query_status(paidy_id)
        except ProviderRejected as exc:
            raise NotificationRejected(f"Paidy does not know {paidy_id!r}") from exc


def _refunded_all(payment: dict[str, Any]) -> bool:
    captured = sum(int(c.get("amount", 0)) for c in payment.get("captures") or [])
    refunded = sum(int(r.get("amount", 0)) for r in payment.get("refunds") or [])
    return refunded >= captured > 0


@post("/api/v1/payments/paidy/authorized/{facility_slug:str}/{payment_id:int}", status_code=200)
async def paidy_authorized(
    facility_slug: FromPath[str],
    payment_id: FromPath[int],
    data: JSONBody[dict[str, Any]],
    db_session: NamedDependency[AsyncSession],
    plugin_host: NamedDependency[PluginHost],
    settings: NamedDependency[Settings],
    signer: NamedDependency[Signer],
) -> Response[Any]:
    """Paidy checkout's callback: verify the authorised payment, capture, confirm."""
    key, paidy_id = str(data.get("key", "")), str(data.get("paidy_payment_id", ""))
    found = await provider_payment(
        db_session,
        plugin_host,
        facility_slug=facility_slug,
        payment_id=payment_id,
        plugin_name=PLUGIN_NAME,
        provider_name=PaidyProvider.name,
        access_key=key,
    )
    tenant, payment, order = found.tenant, found.payment, found.order
    provider = instantiate_provider(tenant, PaidyProvider, settings)
    try:
        event = await provider.query_status(paidy_id) if paidy_id.startswith("pay_") else None
    except (ProviderRejected, NotificationRejected):
        event = None
    # The browser could post any id: it must be Paidy's payment for exactly this attempt.
    if (
        event is None
        or event.merchant_ref != str(payment.id)
        or event.detail.get("order_ref") != order.code
    ):
        raise InvalidInput(
            "This Paidy payment does not belong to the order.",
            "このペイディ決済はご注文と一致しません。",
        )
    outcome = await apply_event(
        db_session, tenant, provider, event, settings=settings, signer=signer
    )
    return Response({"outcome": outcome}, status_code=200, media_type=MediaType.JSON)


@hookimpl
def register_payment_providers() -> list[type[Any]]:
    return [PaidyProvider]


@hookimpl
def register_routes() -> list[Any]:
    return [webhook_route(PLUGIN_NAME, PaidyProvider), paidy_authorized]
