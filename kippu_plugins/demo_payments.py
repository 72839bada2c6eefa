"""Demo payment provider (the embedded default): every online method, simulated.

It walks the same asynchronous paths as the real providers, so the demo and the tests
exercise what production does; nothing leaves the machine:

- card: ``start`` redirects to a simulated 3-D Secure page (like Stripe's 3-D Secure);
- konbini: ``start`` returns a payment slip (payment code, confirmation number, deadline);
  a demo "store register" page pays it later, or reconciliation expires it;
- PayPay: ``start`` returns a QR code; scanning it opens a demo "PayPay app" page that pays;
- Paidy: ``start`` redirects to a demo Paidy checkout that authorises with a phone number
  and an e-mail address; the core then captures, as with the real Paidy.

The simulated provider keeps its own ledger (:data:`LEDGER`, in memory: it stands for the
provider's servers, so kippu's database is never its source of truth). Its demo controls
tell kippu what happened the way a provider does: a notification signed with the
facility's demo webhook secret, posted to ``/api/v1/payments/demo/webhook/<facility>``,
verified by :meth:`DemoProvider.handle_notification` and applied by ``apply_event``.
``query_status`` reads the ledger, so reconciliation and the visitor's waiting page find
payments whose notification was lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from core_service.plugin_api import (
    CredentialField,
    NextAction,
    NotificationRejected,
    PaymentProvider,
    PaymentStart,
    ProviderEvent,
    ProviderRejected,
    RefundResult,
    hookimpl,
    webhook_route,
)

PLUGIN_NAME = "demo_payments"
PROVIDER_NAME = "demo"
#: Header of a demo notification: ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
SIGNATURE_HEADER = "x-kippu-demo-signature"
#: Seconds a signed notification stays acceptable; older ones are replays.
SIGNATURE_TOLERANCE = 300
#: Days a konbini slip stays payable unless the facility's demo credentials say otherwise.
KONBINI_DAYS = 3
#: Seconds a demo PayPay QR code stays scannable (PayPay's default is 5 minutes).
QR_SECONDS = 600

_LABELS = {
    "card": ("クレジットカード(デモ)", "Credit card (demo)"),
    "konbini": ("コンビニ払い(デモ)", "Convenience store (demo)"),
    "paypay": ("PayPay(デモ)", "PayPay (demo)"),
    "paidy": ("ペイディ あと払い(デモ)", "Paidy pay later (demo)"),
}


@dataclass
class DemoCharge:
    """One payment as the simulated provider sees it."""

    facility_id: int
    payment_id: int
    #: Tells a reused payment id apart (a demo database that was reset).
    order_code: str
    method: str
    amount: int
    #: pending | authorized | paid | failed
    state: str = "pending"
    expires_at: int = 0
    phone: str = ""
    email: str = ""


#: The simulated provider's side, keyed by (facility id, provider reference).
LEDGER: dict[tuple[int, str], DemoCharge] = {}
#: Refunds the simulated provider made, keyed by (facility id, idempotency key).
REFUNDS: dict[tuple[int, str], RefundResult] = {}


def ledger_charge(
    facility_id: int, payment_id: int, order_code: str, method: str, amount: int
) -> DemoCharge:
    """The simulated provider's record of a payment, created on first sight."""
    key = (facility_id, demo_ref(payment_id))
    charge = LEDGER.get(key)
    if charge is None or charge.order_code != order_code:
        charge = LEDGER[key] = DemoCharge(facility_id, payment_id, order_code, method, amount)
    return charge


def demo_ref(payment_id: int) -> str:
    return f"demo_{payment_id}"


def control_path(slug: str, payment_id: int, access_key: str, step: str = "") -> str:
    """The demo page of one payment (``step``: "", "konbini", "paypay" or "paidy")."""
    suffix = f"/{step}" if step else ""
    return f"/demo-pay/{slug}/{payment_id}{suffix}?key={access_key}"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The value of :data:`SIGNATURE_HEADER` for ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def notification_body(charge: DemoCharge, event_id: str) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "payment.updated",
            "payment": {
                "ref": demo_ref(charge.payment_id),
                "payment_id": charge.payment_id,
                "state": charge.state,
                "amount": charge.amount,
                "method": charge.method,
            },
        },
        separators=(",", ":"),
    ).encode()


class DemoProvider(PaymentProvider):
    """Simulates card, konbini, PayPay and Paidy; credentials: ``webhook_secret``
    (created by the demo pages when missing) and optional ``konbini_expires_after_days``."""

    name = PROVIDER_NAME
    credential_fields = (
        CredentialField("webhook_secret", "通知の署名シークレット", "Notification signing secret"),
        CredentialField(
            "konbini_expires_after_days",
            "コンビニ払いの支払期限(日数)",
            "Konbini payment deadline (days)",
            secret=False,
        ),
    )
    methods = ("card", "konbini", "paypay", "paidy")

    def method_label(self, method: str, locale: str) -> str:
        ja, en = _LABELS[method]
        return ja if locale == "ja" else en

    def _charge(self, ref: str) -> DemoCharge:
        charge = LEDGER.get((self.facility.id, ref))
        if charge is None:
            raise ProviderRejected(
                f"The demo provider does not know payment {ref!r}.",
                "デモ決済にこのお支払いの記録がありません。",
            )
        return charge

    async def start(self, payment: PaymentStart) -> NextAction:
        ref = demo_ref(payment.payment_id)
        slug, key = self.facility.slug, payment.access_key
        # Starting the same payment again (a retry) returns the same charge, as a real
        # provider does for a repeated idempotency key.
        charge = ledger_charge(
            self.facility.id,
            payment.payment_id,
            payment.order_code,
            payment.method,
            payment.amount,
        )
        if payment.method == "konbini":
            if not charge.expires_at:
                days = int(self.credentials.get("konbini_expires_after_days") or KONBINI_DAYS)
                charge.expires_at = int(time.time()) + days * 86400
            code = f"{(payment.payment_id * 7919 + self.facility.id) % 10**6:06d}"
            number = f"{self.facility.id % 10**4:04d}{payment.payment_id % 10**7:07d}"
            store = {"payment_code": code, "confirmation_number": number}
            return NextAction(
                kind="konbini",
                provider_ref=ref,
                data={
                    "expires_at": charge.expires_at,
                    "stores": {
                        "seven_eleven": {"payment_code": number},
                        "lawson": store,
                        "familymart": store,
                        "ministop": store,
                    },
                    "demo_control_url": self.base_url
                    + control_path(slug, payment.payment_id, key, "konbini"),
                },
            )
        if payment.method == "paypay":
            charge.expires_at = int(time.time()) + QR_SECONDS
            url = self.base_url + control_path(slug, payment.payment_id, key, "paypay")
            return NextAction(
                kind="qr",
                url=url,
                provider_ref=ref,
                data={"expires_at": charge.expires_at, "demo_control_url": url},
            )
        step = "paidy" if payment.method == "paidy" else ""
        url = self.base_url + control_path(slug, payment.payment_id, key, step)
        return NextAction(kind="redirect", url=f"{url}&lang={payment.locale}", provider_ref=ref)

    def _event(self, charge: DemoCharge, event_id: str = "") -> ProviderEvent:
        return ProviderEvent(
            provider_ref=demo_ref(charge.payment_id),
            state=charge.state,
            amount=charge.amount,
            merchant_ref=str(charge.payment_id),
            event_id=event_id,
            detail={"reason": f"demo: {charge.method} {charge.state}"},
        )

    async def query_status(self, provider_ref: str) -> ProviderEvent:
        return self._event(self._charge(provider_ref))

    async def capture(
        self, provider_ref: str, amount: int, *, idempotency_key: str
    ) -> ProviderEvent | None:
        charge = self._charge(provider_ref)
        if charge.state == "authorized" and amount == charge.amount:
            charge.state = "paid"
        return self._event(charge)

    async def cancel(self, provider_ref: str, *, idempotency_key: str) -> None:
        charge = LEDGER.get((self.facility.id, provider_ref))
        if charge is not None and charge.state in ("pending", "authorized"):
            charge.state = "failed"

    async def refund(
        self, provider_ref: str, amount: int, *, idempotency_key: str, reason: str = ""
    ) -> RefundResult:
        """Refunds at once; the same idempotency key returns the first refund, as a real
        provider's API does. A charge the ledger forgot (the demo restarted) is refunded
        too, so demo cancellations keep working after a restart."""
        key = (self.facility.id, idempotency_key)
        if key not in REFUNDS:
            charge = LEDGER.get((self.facility.id, provider_ref))
            if charge is not None and amount > charge.amount:
                raise ProviderRejected(
                    f"Refund of {amount} exceeds the charge of {charge.amount}.",
                    "返金額が決済金額を超えています。",
                )
            digest = hashlib.sha256(f"{self.facility.id}:{idempotency_key}".encode()).hexdigest()
            REFUNDS[key] = RefundResult(
                refund_ref=f"demo_refund_{digest[:16]}",
                amount=amount,
                state="refunded",
                detail={"payment": provider_ref, "reason": reason},
            )
        return REFUNDS[key]

    async def handle_notification(
        self, headers: dict[str, str], body: bytes
    ) -> ProviderEvent | None:
        secret = self.credentials.get("webhook_secret", "")
        if not secret:
            raise NotificationRejected("no demo webhook secret is set for this facility")
        parts = dict(
            item.split("=", 1)
            for item in headers.get(SIGNATURE_HEADER, "").split(",")
            if "=" in item
        )
        timestamp = parts.get("t", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > SIGNATURE_TOLERANCE:
            raise NotificationRejected("missing or stale demo signature timestamp")
        expected = sign(secret, body, int(timestamp)).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            raise NotificationRejected("demo signature does not match")
        try:
            data = json.loads(body)
            payment = data["payment"]
            return ProviderEvent(
                provider_ref=str(payment["ref"]),
                state=str(payment["state"]),
                amount=int(payment["amount"]),
                merchant_ref=str(payment["payment_id"]),
                event_id=str(data.get("id", "")),
                detail={"reason": f"demo: {payment.get('method')} {payment['state']}"},
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise NotificationRejected("body is not a demo notification") from exc


@hookimpl
def register_payment_providers() -> list[type[Any]]:
    return [DemoProvider]


@hookimpl
def register_routes() -> list[Any]:
    from kippu_plugins.demo_payments_pages import DEMO_PAYMENT_ROUTES

    return [webhook_route(PLUGIN_NAME, DemoProvider), *DEMO_PAYMENT_ROUTES]
