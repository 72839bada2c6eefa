"""The demo provider's simulated 3-D Secure page (served by the ``demo_payments`` plugin).

``GET /demo-pay/<facility>/<payment id>?key=<order access key>`` shows the amount with
Approve and Decline buttons; each POSTs back here. Approving completes the payment
through :func:`core_service.payments.service.complete_payment` (tickets, confirmation
mail) and sends the visitor to the ticket page; declining fails the payment and sends
them back to the order page, where they can try again. The page refuses facilities that
have not enabled ``demo_payments`` and keys that do not match the payment's order.
"""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.errors import Forbidden, NotFound
from core_service.models import Order, Payment
from core_service.payments.service import complete_payment
from core_service.plugin_host import PluginHost
from core_service.sales.service import fail_payment
from core_service.security import Signer
from core_service.settings import Settings
from core_service.tenancy import Tenant, load_tenant
from core_service.web import urls
from core_service.web.rendering import render_page, request_locale

PLUGIN_NAME = "demo_payments"
PROVIDER_NAME = "demo"


async def _checked(
    session: AsyncSession, host: PluginHost, slug: str, payment_id: int, key: str
) -> tuple[Tenant, Payment, Order]:
    tenant = await load_tenant(session, host, slug=slug)
    if PLUGIN_NAME not in tenant.plugins.enabled:
        raise NotFound("No such page.", "ページが見つかりません。")
    payment = await session.scalar(
        sa.select(Payment).where(
            Payment.id == payment_id,
            Payment.facility_id == tenant.id,
            Payment.provider == PROVIDER_NAME,
        )
    )
    if payment is None:
        raise NotFound("No such payment.", "お支払いが見つかりません。")
    order = await session.get(Order, payment.order_id)
    assert order is not None
    if not key or not secrets.compare_digest(order.access_key, key):
        raise Forbidden("This payment link is not valid.", "このお支払いリンクは無効です。")
    return tenant, payment, order


@get("/demo-pay/{facility_slug:str}/{payment_id:int}")
async def demo_pay_page(
    request: Request[Any, Any, Any],
    facility_slug: str,
    payment_id: int,
    db_session: AsyncSession,
    plugin_host: PluginHost,
    key: str = "",
) -> Template | Redirect:
    tenant, payment, order = await _checked(db_session, plugin_host, facility_slug, payment_id, key)
    if payment.state == "paid":
        return Redirect(
            urls.order_path(facility_slug, order.code, order.access_key), status_code=303
        )
    locale = request_locale(request)
    return render_page(
        request,
        "demo_pay.html",
        {
            "facility": tenant.facility,
            "facility_name": tenant.facility.name(locale),
            "shop_url": urls.shop_path(facility_slug),
            "mypage_url": urls.mypage_path(facility_slug),
            "payment": payment,
            "order": order,
            "access_key": key,
            "action_url": f"/demo-pay/{facility_slug}/{payment_id}",
        },
    )


@post("/demo-pay/{facility_slug:str}/{payment_id:int}/approve", status_code=303)
async def demo_pay_approve(
    request: Request[Any, Any, Any],
    facility_slug: str,
    payment_id: int,
    db_session: AsyncSession,
    plugin_host: PluginHost,
    settings: Settings,
    signer: Signer,
) -> Redirect:
    key = (await request.form()).get("key") or ""
    tenant, payment, order = await _checked(db_session, plugin_host, facility_slug, payment_id, key)
    # Approving twice (double click, back button) is a no-op in complete_payment.
    await complete_payment(
        db_session, tenant, payment.id, f"demo_{payment.id}", settings=settings, signer=signer
    )
    return Redirect(urls.order_path(facility_slug, order.code, order.access_key), status_code=303)


@post("/demo-pay/{facility_slug:str}/{payment_id:int}/decline", status_code=303)
async def demo_pay_decline(
    request: Request[Any, Any, Any],
    facility_slug: str,
    payment_id: int,
    db_session: AsyncSession,
    plugin_host: PluginHost,
) -> Redirect:
    key = (await request.form()).get("key") or ""
    tenant, payment, order = await _checked(db_session, plugin_host, facility_slug, payment_id, key)
    await fail_payment(db_session, tenant, payment.id, "declined on the demo 3-D Secure page")
    return Redirect(
        urls.order_path(facility_slug, order.code, order.access_key, declined="1"), status_code=303
    )


DEMO_PAYMENT_ROUTES: list[Any] = [demo_pay_page, demo_pay_approve, demo_pay_decline]
