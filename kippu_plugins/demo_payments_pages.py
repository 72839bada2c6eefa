"""The demo provider's simulated pages (served by the ``demo_payments`` plugin).

They play the provider's side of each method; every one refuses facilities that have not
enabled ``demo_payments`` and keys that do not match the payment's order:

- ``GET /demo-pay/<facility>/<payment>?key=`` a simulated 3-D Secure page (card);
  Approve / Decline post back here;
- ``GET …/konbini`` a convenience store's register: "Pay at the register" pays the slip
  (refused after its deadline);
- ``GET …/paypay`` the PayPay app after scanning the QR code: "Pay" pays;
- ``GET …/paidy`` Paidy checkout: phone number and e-mail authorise (a phone number
  ending in 0000 is declined, to show that path); kippu then captures.

Each outcome is sent to kippu as a real provider would: a signed notification posted to
kippu's own webhook route (through the ASGI app itself, so the full HTTP path runs), where
``apply_event`` acts on it. Konbini and PayPay controls have a "do not send the
notification" box that simulates a lost notification, which the visitor's waiting page or
the reconciliation job then picks up by querying the provider. The card page also
completes the payment directly (the visitor's return), so the duplicate path runs too.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import httpx
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.plugin_api import (
    NotFound,
    Order,
    Payment,
    PluginHost,
    Settings,
    Signer,
    Tenant,
    complete_payment,
    customer_email,
    fail_payment,
    load_credentials,
    new_token,
    payment_page_path,
    provider_payment,
    render_page,
    request_locale,
    store_credentials,
    urls,
)
from kippu_contract.states import PaymentState
from kippu_plugins.demo_payments import (
    PLUGIN_NAME,
    PROVIDER_NAME,
    SIGNATURE_HEADER,
    DemoCharge,
    demo_ref,
    ledger_charge,
    notification_body,
    sign,
)

PHONE = re.compile(r"0\d{9,10}")
BASE = "/demo-pay/{facility_slug:str}/{payment_id:int}"


async def _checked(
    session: AsyncSession, host: PluginHost, slug: str, payment_id: int, key: str
) -> tuple[Tenant, Payment, Order]:
    found = await provider_payment(
        session,
        host,
        facility_slug=slug,
        payment_id=payment_id,
        plugin_name=PLUGIN_NAME,
        provider_name=PROVIDER_NAME,
        access_key=key,
    )
    return found.tenant, found.payment, found.order


def _charge(tenant: Tenant, payment: Payment, order: Order) -> DemoCharge:
    # The ledger is in memory; after a restart the demo re-creates the charge from kippu's
    # record so that the controls keep working.
    return ledger_charge(tenant.id, payment.id, order.code, payment.method, payment.amount)


async def _webhook_secret(session: AsyncSession, tenant: Tenant, settings: Settings) -> str:
    """The facility's demo webhook secret, created on first use like a provider's."""
    credentials = load_credentials(tenant.facility, PROVIDER_NAME, settings.secret_key)
    if not credentials.get("webhook_secret"):
        credentials["webhook_secret"] = new_token(24)
        await store_credentials(session, tenant.id, PROVIDER_NAME, credentials, settings.secret_key)
        await session.commit()
    return credentials["webhook_secret"]


async def deliver_notification(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    tenant: Tenant,
    charge: DemoCharge,
    settings: Settings,
) -> str:
    """Post a signed notification of ``charge`` to kippu's demo webhook; its outcome."""
    secret = await _webhook_secret(session, tenant, settings)
    body = notification_body(charge, f"evt_demo_{secrets.token_hex(8)}")
    # Nothing of this request's transaction may stay open: the webhook writes in its own.
    await session.commit()
    # Litestar's ASGI signature is narrower than httpx's generic one; it is an ASGI app.
    transport = httpx.ASGITransport(app=request.app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://kippu.internal") as client:
        response = await client.post(
            f"/api/v1/payments/{PROVIDER_NAME}/webhook/{tenant.facility.slug}",
            content=body,
            headers={SIGNATURE_HEADER: sign(secret, body), "content-type": "application/json"},
        )
    return str(response.json().get("outcome", response.status_code))


def _context(
    request: Request[Any, Any, Any], tenant: Tenant, payment: Payment, order: Order, key: str
) -> dict[str, Any]:
    slug = tenant.facility.slug
    return {
        "facility": tenant.facility,
        "facility_name": tenant.facility.name(request_locale(request)),
        "shop_url": urls.shop_path(slug),
        "mypage_url": urls.mypage_path(slug),
        "payment": payment,
        "order": order,
        "access_key": key,
        "action_url": f"/demo-pay/{slug}/{payment.id}",
        "charge": _charge(tenant, payment, order),
        "now": int(time.time()),
        "expired": False,
    }


def _to_payment_page(tenant: Tenant, order: Order, payment: Payment) -> Redirect:
    return Redirect(
        payment_page_path(tenant.facility.slug, order.code, order.access_key, payment.id),
        status_code=303,
    )


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.form()).items()}


# --- card: simulated 3-D Secure ---------------------------------------------------------


@get(BASE)
async def demo_pay_page(
    request: Request[Any, Any, Any],
    facility_slug: FromPath[str],
    payment_id: FromPath[int],
    db_session: NamedDependency[AsyncSession],
    plugin_host: NamedDependency[PluginHost],
    key: FromQuery[str] = "",
) -> Template | Redirect:
    tenant, payment, order = await _checked(db_session, plugin_host, facility_slug, payment_id, key)
    if payment.state == PaymentState.PAID:
        return Redirect(
            urls.order_path(facility_slug, order.code, order.access_key), status_code=303
        )
    return render_page(request, "demo_pay.html", _context(request, tenant, payment, order, key))


@post(f"{BASE}/approve", status_code=303)
async def demo_pay_approve(
    request: Request[Any, Any, Any],
    facility_slug: FromPath[str],
    payment_id: FromPath[int],
    db_session: NamedDependency[AsyncSession],
    plugin_host: NamedDependency[PluginHost],
    settings: NamedDependency[Settings],
    signer: NamedDependency[Signer],
) -> Redirect:
    key = (await _form(request)).get("key", "")
    tenant, payment, order = await _checked(db_session, plugin_host, facility_slug, payment_id, key)
    charge = _charge(tenant, payment, order)
    if charge.state == "pending":
        charge.state = "paid"
    if charge.state == "paid":
        await deliver_notification(request, db_session, tenant, charge, settings)
        # The visitor's return from 3-D Secure confirms too; approving twice (double
        # click, back button) or after the notification is a no-op in complete_payment.
        await complete_payment(
            db_session, tenant, payment.id, demo_ref(payment.id), settings=settings, signer=signer
        )
    return Redirect(urls.order_path(facility_slug, order.code, order.access_key), status_code=303)


@post(f"{BASE}/decline", status_code=303)
async def demo_pay_decline(
    request: Request[Any, Any, Any],
    facility_slug: FromPath[str],
    payment_id: FromPath[int],
    db_session: NamedDependency[AsyncSession],
    plugin_host: NamedDependency[PluginHost],
    settings: NamedDependency[Settings],
) -> Redirect:
    key = (await _form(request)).get("key", "")
    tenant, payment, order = await _checked(db_session, plugin_host, facility_slug, payment_id, key)
    charge = _charge(tenant, payment, order)
    if charge.state == "pending":
        charge.state = "failed"
        await deliver_notification(request, db_session, tenant, charge, settings)
    await fail_payment(db_session, tenant, payment.id, "declined on the demo 3-D Secure page")
    return Redirect(
        urls.order_path(facility_slug, order.code, order.access_key, declined="1"), status_code=303
    )


# --- konbini register and PayPay app ------------------------------------------------------


@get(f"{BASE}/{{step:str}}")
async def demo_control_page(
    request: Request[Any, Any, Any],
    facility_slug: FromPath[str],
    payment_id: FromPath[int],
    step: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    plugin_host: NamedDependency[PluginHost],
    key: FromQuery[str] = "",
) -> Template:
    if step not in ("konbini", "paypay", "paidy"):
        raise NotFound("No such page.", "ページが見つかりません。")
    tenant, payment, order = await _checked(db_session, plugin_host, facility_slug, payment_id, key)
    context = _context(request, tenant, payment, order, key)
    if step == "paidy":
        email = await customer_email(db_session, order)
        context.update(email=email or "", phone="", errors={})
    return render_page(request, f"demo_{step}.html", context)


@post(f"{BASE}/{{step:str}}/pay", status_code=303)
async def demo_control_pay(
    request: Request[Any, Any, Any],
    facility_slug: FromPath[str],
    payment_id: FromPath[int],
    step: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    plugin_host: NamedDependency[PluginHost],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    """The visitor paid at the konbini register, or approved in the PayPay app."""
    if step not in ("konbini", "paypay"):
        raise NotFound("No such page.", "ページが見つかりません。")
    form = await _form(request)
    tenant, payment, order = await _checked(
        db_session, plugin_host, facility_slug, payment_id, form.get("key", "")
    )
    charge = _charge(tenant, payment, order)
    if charge.state == "pending" and charge.expires_at and time.time() > charge.expires_at:
        # The register (or the app) refuses an expired slip or QR code.
        context = _context(request, tenant, payment, order, form.get("key", ""))
        return render_page(
            request, f"demo_{step}.html", {**context, "expired": True}, status_code=409
        )
    if charge.state == "pending":
        charge.state = "paid"
    if form.get("notify", "") == "1":
        await deliver_notification(request, db_session, tenant, charge, settings)
    return _to_payment_page(tenant, order, payment)


# --- Paidy checkout -----------------------------------------------------------------------


# A parameter, not a literal "paidy" segment: Litestar would then stop matching
# GET …/paidy against the control page route above.
@post(f"{BASE}/{{step:str}}/authorize", status_code=303)
async def demo_paidy_authorize(
    request: Request[Any, Any, Any],
    facility_slug: FromPath[str],
    payment_id: FromPath[int],
    step: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    plugin_host: NamedDependency[PluginHost],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    """Paidy's credit check: a phone number and an e-mail address authorise the payment."""
    if step != "paidy":
        raise NotFound("No such page.", "ページが見つかりません。")
    form = await _form(request)
    key = form.get("key", "")
    tenant, payment, order = await _checked(db_session, plugin_host, facility_slug, payment_id, key)
    phone = re.sub(r"[\s-]", "", form.get("phone", ""))
    email = form.get("email", "").strip()
    errors = {}
    if not PHONE.fullmatch(phone):
        errors["phone"] = True
    if "@" not in email:
        errors["email"] = True
    if errors:
        context = _context(request, tenant, payment, order, key)
        context.update(phone=form.get("phone", ""), email=email, errors=errors)
        return render_page(request, "demo_paidy.html", context, status_code=422)
    charge = _charge(tenant, payment, order)
    charge.phone, charge.email = phone, email
    if charge.state == "pending":
        charge.state = "failed" if phone.endswith("0000") else "authorized"
    # "authorized" makes apply_event capture (the ledger moves to paid) and confirm.
    await deliver_notification(request, db_session, tenant, charge, settings)
    if charge.state == "failed":
        return Redirect(
            urls.order_path(facility_slug, order.code, order.access_key, declined="1"),
            status_code=303,
        )
    return _to_payment_page(tenant, order, payment)


DEMO_PAYMENT_ROUTES: list[Any] = [
    demo_pay_page,
    demo_pay_approve,
    demo_pay_decline,
    demo_control_page,
    demo_control_pay,
    demo_paidy_authorize,
]
