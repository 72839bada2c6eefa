"""The visitor's payment page: what to do for one payment attempt, whatever the method.

``GET /shop/<facility>/orders/<code>/payments/<payment id>?key=<order access key>`` shows
the provider's next action (:class:`~core_service.payments.provider.NextAction`):

- ``qr``: the QR code to scan (a link on a phone) and a waiting state that reloads itself
  every few seconds, asks the provider, and moves on to the tickets once paid;
- ``konbini``: the payment slip (payment code / confirmation number per chain, the
  deadline, the provider's voucher);
- ``client_confirm``: Stripe.js (Payment Element with the facility's publishable key and
  the PaymentIntent's client secret) or Paidy checkout; both come back to this page;
- ``wait`` (and a visitor coming back from the provider's page): a waiting state;
- a start that the provider did not answer: a clear message and a retry button that
  calls the provider again for the same payment with the same idempotency key.

Once the payment is decided the page sends the visitor to the order page. Providers'
return URLs point here, so coming back asks the provider at once instead of waiting for
the notification. Pages work without JavaScript except the provider SDK pages.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from zoneinfo import ZoneInfo

import segno
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.payments.service import START_ERROR, deadline, resume_payment
from core_service.platform import urls
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from core_service.storefront.payment_attempts import current_payment, method_label, visitor_payment
from core_service.storefront.rendering import render_page, request_locale
from core_service.storefront.shop import provide_shop

#: Seconds between reloads of a waiting page.
REFRESH_SECONDS = 4
#: Query parameters that mark a visitor coming back from the provider's page.
RETURN_PARAMS = ("redirect_status", "payment_intent", "returned")
#: Konbini chains as the slip names them.
STORE_NAMES = {
    "seven_eleven": ("セブン-イレブン", "7-Eleven"),
    "familymart": ("ファミリーマート", "FamilyMart"),
    "lawson": ("ローソン", "Lawson"),
    "ministop": ("ミニストップ", "Ministop"),
    "seicomart": ("セイコーマート", "Seicomart"),
    "dailyyamazaki": ("デイリーヤマザキ", "Daily Yamazaki"),
}


def qr_code(url: str, title: str) -> Markup:
    # segno renders our own provider-given URL into SVG markup; nothing user-typed.
    return Markup(segno.make(url, error="m").svg_inline(scale=6, border=4, title=title))


def _stores(data: dict[str, Any], locale: str) -> list[dict[str, str]]:
    rows = []
    for chain, numbers in (data.get("stores") or {}).items():
        ja, en = STORE_NAMES.get(chain, (chain, chain))
        numbers = numbers if isinstance(numbers, dict) else {}
        rows.append(
            {
                "name": ja if locale == "ja" else en,
                "payment_code": str(numbers.get("payment_code") or ""),
                "confirmation_number": str(numbers.get("confirmation_number") or ""),
            }
        )
    return rows


def _deadline(value: Any, timezone: str) -> dt.datetime | None:
    seconds = deadline(value)
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, ZoneInfo(timezone))


#: What pay_client.html loads from the providers whose SDKs it runs (their documented
#: CSP needs): Stripe.js with its 3-D Secure frames, and Paidy Checkout.
PROVIDER_SDK_SOURCES = {
    "script-src": ["https://js.stripe.com", "https://apps.paidy.com"],
    "frame-src": ["https://js.stripe.com", "https://hooks.stripe.com", "https://apps.paidy.com"],
    "connect-src": ["https://api.stripe.com", "https://api.paidy.com"],
    "img-src": ["https://*.stripe.com"],
}


class PaymentPageController(Controller):
    """kippu's page of one payment attempt."""

    path = "/shop/{facility_slug:str}/orders/{code:str}/payments/{payment_id:int}"
    dependencies = {"shop": Provide(provide_shop)}

    @get("/", opt={"csp_sources": PROVIDER_SDK_SOURCES})
    async def show(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        payment_id: FromPath[int],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        signer: NamedDependency[Signer],
        key: FromQuery[str] = "",
    ) -> Template | Redirect:
        # Stripe appends these when it sends the visitor back after confirming.
        returned = any(p in request.query_params for p in RETURN_PARAMS)
        view = await current_payment(
            db_session,
            shop,
            code,
            key,
            payment_id,
            returned=returned,
            settings=settings,
            signer=signer,
        )
        if view.decided_url:
            return Redirect(view.decided_url, status_code=303)
        order, payment, action = view.order, view.payment, view.action
        locale = request_locale(request)
        slug = shop.facility.slug
        context: dict[str, Any] = {
            "facility": shop.facility,
            "facility_name": shop.facility.name(locale),
            "shop_url": urls.shop_path(slug),
            "mypage_url": urls.mypage_path(slug),
            "order": order,
            "payment": payment,
            "access_key": key,
            "order_url": urls.order_path(slug, order.code, order.access_key),
            "retry_url": f"{urls.shop_path(slug)}orders/{order.code}/payments/{payment.id}/retry",
            "refresh_seconds": REFRESH_SECONDS,
            "method_label": method_label(shop, payment, locale, settings),
        }
        if action is None:
            unavailable = (payment.data or {}).get(START_ERROR) == "unavailable"
            return render_page(
                request,
                "pay_wait.html",
                {**context, "unavailable": unavailable, "refresh": not unavailable},
                status_code=503 if unavailable else 200,
            )
        data = action.data
        context.update(action=action, data=data)
        if action.kind == "qr":
            context["qr_svg"] = qr_code(action.url, f"{order.code} {context['method_label']}")
            context["expires"] = _deadline(data.get("expires_at"), shop.facility.timezone)
            # An expired code cannot be paid: offer a new one (a new attempt, the old
            # one is cancelled) through the order page's payment form.
            context["qr_expired"] = bool(
                context["expires"] and context["expires"].timestamp() < time.time()
            )
            context["pay_url"] = f"{urls.shop_path(slug)}orders/{order.code}/pay"
            context["choice"] = f"{payment.provider}:{payment.method}"
            return render_page(request, "pay_qr.html", context)
        if action.kind == "konbini":
            context["stores"] = _stores(data, locale)
            context["expires"] = _deadline(data.get("expires_at"), shop.facility.timezone)
            return render_page(request, "pay_konbini.html", context)
        if action.kind == "client_confirm" and not returned:
            # The SDK's configuration travels as JSON in the page, never as inline code.
            context["sdk_config"] = {
                **data,
                "paidy_callback_url": (
                    f"/api/v1/payments/{payment.provider}/authorized/{slug}/{payment.id}"
                ),
                "order_key": order.access_key,
                "back_url": str(request.url),
            }
            return render_page(request, "pay_client.html", context)
        return render_page(request, "pay_wait.html", {**context, "refresh": True})

    @post("/retry", status_code=303)
    async def retry(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        payment_id: FromPath[int],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        signer: NamedDependency[Signer],
    ) -> Redirect:
        """Try the provider again for the same payment (same idempotency key)."""
        key = str((await request.form()).get("key") or "")
        order, payment = await visitor_payment(db_session, shop, code, key, payment_id)
        action = await resume_payment(
            db_session, shop, order, payment, settings=settings, signer=signer
        )
        return Redirect(
            action.url or urls.order_path(shop.facility.slug, code, key), status_code=303
        )


PAYMENT_PAGE_HANDLERS: list[Any] = [PaymentPageController]
