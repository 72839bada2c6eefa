"""Demo payment provider (the embedded default): simulated online payments.

It walks the same asynchronous path as a real provider: ``start`` sends the visitor to a
simulated 3-D Secure page served by this plugin; approving there confirms the payment
through the core's payment service, declining fails it. Nothing leaves the machine.
"""

from __future__ import annotations

from typing import Any

from core_service.payments.provider import NextAction, PaymentProvider, PaymentStart
from core_service.plugin_api import hookimpl

PLUGIN_NAME = "demo_payments"

_LABELS = {
    "card": ("クレジットカード(デモ)", "Credit card (demo)"),
}


class DemoProvider(PaymentProvider):
    name = "demo"
    methods = ("card",)

    def method_label(self, method: str, locale: str) -> str:
        ja, en = _LABELS[method]
        return ja if locale == "ja" else en

    async def start(self, payment: PaymentStart) -> NextAction:
        url = f"{self.base_url}/demo-pay/{self.facility.slug}/{payment.payment_id}?key={payment.access_key}&lang={payment.locale}"
        return NextAction(kind="redirect", url=url, provider_ref=f"demo_{payment.payment_id}")


@hookimpl
def register_payment_providers() -> list[type[Any]]:
    return [DemoProvider]


@hookimpl
def register_routes() -> list[Any]:
    from plugins.demo_payments_pages import DEMO_PAYMENT_ROUTES

    return DEMO_PAYMENT_ROUTES
