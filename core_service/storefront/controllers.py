"""Visitor page routes: the web shop, ticket pages and My Page.

Handlers are thin: they resolve the facility from the URL, call one service function in
:mod:`.checkout` or :mod:`.mypage`, and render a template or redirect. Every page works
without JavaScript: forms are plain POSTs answered with a redirect (303) or the form again.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.aftersales.distribution import claim_path, transfers_of
from core_service.payments.registry import method_choices
from core_service.platform import urls
from core_service.platform.client_address import client_address
from core_service.platform.errors import TooManyAttempts
from core_service.platform.i18n import gettext
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from core_service.storefront import checkout, mypage
from core_service.storefront.aftersales_pages import AFTERSALES_HANDLERS
from core_service.storefront.availability_widget import availability_widget
from core_service.storefront.mypage_access import MYPAGE_DEPENDENCIES, MYPAGE_EXCEPTION_HANDLERS
from core_service.storefront.payment_pages import PAYMENT_PAGE_HANDLERS
from core_service.storefront.rendering import render_page, request_locale
from core_service.storefront.shop import provide_shop, shop_context
from core_service.storefront.stay_pages import STAY_PAGE_HANDLERS, stay_views
from core_service.storefront.ticket_page import group_view, ticket_views


class ShopController(Controller):
    """The web checkout of one facility."""

    path = "/shop/{facility_slug:str}"
    dependencies = {"shop": Provide(provide_shop)}

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        locale = request_locale(request)
        products = await checkout.web_products(db_session, shop)
        return render_page(
            request,
            "shop_index.html",
            {
                **shop_context(shop, locale),
                "products": products,
                "product_url": lambda p: urls.product_path(shop.facility.slug, p.code),
            },
        )

    @get("/products/{code:str}")
    async def product(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Template:
        locale = request_locale(request)
        product = await checkout.web_product(db_session, shop, code)
        page = await checkout.product_page(
            db_session, shop, product, locale=locale, settings=settings
        )
        return render_page(
            request, "product.html", {**shop_context(shop, locale), **page.context()}
        )

    @post("/products/{code:str}", status_code=200)
    async def buy(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        signer: NamedDependency[Signer],
    ) -> Template | Redirect:
        locale = request_locale(request)
        product = await checkout.web_product(db_session, shop, code)
        result = await checkout.submit(
            db_session,
            shop,
            product,
            await request.form(),
            locale=locale,
            settings=settings,
            signer=signer,
        )
        if result.page is None:
            return Redirect(result.redirect_to, status_code=303)
        return render_page(
            request,
            "product.html",
            {**shop_context(shop, locale), **result.page.context()},
            status_code=result.status_code,
        )

    @get("/orders/{code:str}")
    async def order(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        key: FromQuery[str] = "",
        declined: FromQuery[str] = "",
        shared: FromQuery[int] = 0,
    ) -> Template:
        locale = request_locale(request)
        order = await checkout.order_for_visitor(db_session, shop, code, key)
        transfers = await transfers_of(db_session, order)
        tickets = await ticket_views(
            db_session, shop.facility, order, settings.secret_key, locale, transfers
        )
        return render_page(
            request,
            "order.html",
            {
                **shop_context(shop, locale),
                "order": order,
                "tickets": tickets,
                "access_key": key,
                "request_declined": declined == "1",
                "pay_url": f"/shop/{shop.facility.slug}/orders/{order.code}/pay",
                "payment_choices": method_choices(shop, "web", locale, settings),
                # A payment that came back after the hold expired: re-sold or refunded.
                "late_payment": await checkout.late_payment_notice(db_session, shop, order),
                # After-sales (F2, F3, F5): hand-on links, the group code, the receipt.
                "shared_ticket": shared,
                "group": group_view(shop.facility, order, tickets, settings.secret_key),
                "claim_url": lambda k: urls.absolute(
                    settings.base_url, claim_path(shop.facility.slug, k)
                ),
                "share_url": lambda t: (
                    f"/shop/{shop.facility.slug}/orders/{order.code}/tickets/{t.id}/share"
                ),
                "receipt_url": mypage.receipt_path(shop.facility.slug, order)
                if order.paid_at is not None
                else "",
                # Time stays (F19): what an open stay owes, with its pay button.
                "stays": await stay_views(db_session, shop, order),
            },
        )

    @post("/orders/{code:str}/pay", status_code=200)
    async def retry_payment(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        signer: NamedDependency[Signer],
    ) -> Redirect:
        form = await request.form()
        order = await checkout.order_for_visitor(db_session, shop, code, form.get("key") or "")
        target = await checkout.pay(
            db_session, shop, order, form.get("payment") or "", settings=settings, signer=signer
        )
        return Redirect(target, status_code=303)


class MyPageController(Controller):
    """A visitor's purchase history in one facility, behind an e-mailed magic link."""

    path = "/shop/{facility_slug:str}/my"
    dependencies = {"shop": Provide(provide_shop), **MYPAGE_DEPENDENCIES}
    exception_handlers = MYPAGE_EXCEPTION_HANDLERS

    @get("/")
    async def show(
        self,
        request: Request[Any, Any, Any],
        shop: NamedDependency[Tenant],
        visitor: NamedDependency[mypage.MyPageSession | None],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        cancelled: FromQuery[str] = "",
        password: FromQuery[str] = "",
    ) -> Template:
        locale = request_locale(request)
        context = shop_context(shop, locale)
        if visitor is None:
            return render_page(request, "mypage_login.html", {**context, "email": "", "error": ""})
        customer, orders = await mypage.customer_orders(db_session, shop, visitor)
        return render_page(
            request,
            "mypage.html",
            {
                **context,
                "customer": customer,
                "orders": orders,
                "order_url": lambda o: urls.order_path(shop.facility.slug, o.code, o.access_key),
                "summaries": await mypage.order_summaries(
                    db_session, shop, orders, secret_key=settings.secret_key, locale=locale
                ),
                "cancelled_code": cancelled,
                # Only the two known values; anything else in the URL shows nothing.
                "password_notice": password if password in ("set", "removed") else "",
            },
        )

    @post("/", status_code=200)
    async def request_link(
        self,
        request: Request[Any, Any, Any],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        signer: NamedDependency[Signer],
    ) -> Template:
        locale = request_locale(request)
        email = ((await request.form()).get("email") or "").strip()
        context = shop_context(shop, locale)
        if not mypage.valid_email(email):
            return render_page(
                request,
                "mypage_login.html",
                {
                    **context,
                    "email": email,
                    "error": gettext(locale, "This e-mail address does not look right."),
                },
                status_code=422,
            )
        await mypage.send_link(
            db_session, shop, email, locale=locale, settings=settings, signer=signer
        )
        return render_page(request, "mypage_sent.html", {**context, "email": email})

    @get("/login")
    async def login(
        self,
        request: Request[Any, Any, Any],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        signer: NamedDependency[Signer],
        token: FromQuery[str] = "",
    ) -> Template | Redirect:
        me = await mypage.open_link(db_session, shop, signer, token)
        if me is None:
            locale = request_locale(request)
            return render_page(
                request,
                "mypage_login.html",
                {
                    **shop_context(shop, locale),
                    "email": "",
                    "error": gettext(
                        locale, "This link is invalid or has expired. Please ask for a new one."
                    ),
                },
                status_code=400,
            )
        return Redirect(
            urls.mypage_path(shop.facility.slug),
            status_code=303,
            cookies=[_session_cookie(shop, settings, signer, me)],
        )

    @post("/password-login", status_code=200)
    async def password_login(
        self,
        request: Request[Any, Any, Any],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        signer: NamedDependency[Signer],
    ) -> Template | Redirect:
        locale = request_locale(request)
        form = await request.form()
        email = (form.get("email") or "").strip()
        try:
            me = (
                await mypage.password_login(
                    db_session, shop, email, form.get("password") or "", client_address(request)
                )
                if mypage.valid_email(email)
                else None
            )
        except TooManyAttempts as paused:
            page = render_page(
                request,
                "mypage_login.html",
                {
                    **shop_context(shop, locale),
                    "email": "",
                    "error": "",
                    "login_email": email,
                    "login_error": paused.message(locale),
                },
                status_code=paused.status_code,
            )
            page.headers.update(paused.headers())
            return page
        if me is None:
            # One message for every failure, so the form does not tell who is a customer.
            return render_page(
                request,
                "mypage_login.html",
                {
                    **shop_context(shop, locale),
                    "email": "",
                    "error": "",
                    "login_email": email,
                    "login_error": gettext(
                        locale,
                        "We could not log you in with this e-mail address and password. "
                        "If you have not set a password, ask for a login link above.",
                    ),
                },
                status_code=401,
            )
        return Redirect(
            urls.mypage_path(shop.facility.slug),
            status_code=303,
            cookies=[_session_cookie(shop, settings, signer, me)],
        )

    @get("/password")
    async def password_form(
        self,
        request: Request[Any, Any, Any],
        shop: NamedDependency[Tenant],
        me: NamedDependency[mypage.MyPageSession],
        db_session: NamedDependency[AsyncSession],
    ) -> Template | Redirect:
        customer = await mypage.signed_in_customer(db_session, shop, me)
        if customer is None:
            return Redirect(urls.mypage_path(shop.facility.slug), status_code=303)
        return _password_page(request, shop, has_password=customer.password_hash is not None)

    @post("/password", status_code=200)
    async def set_password(
        self,
        request: Request[Any, Any, Any],
        shop: NamedDependency[Tenant],
        me: NamedDependency[mypage.MyPageSession],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        signer: NamedDependency[Signer],
    ) -> Template | Redirect:
        form = await request.form()
        password = form.get("password") or ""
        problem = mypage.password_problem(password, form.get("password_confirm") or "")
        if problem:
            customer = await mypage.signed_in_customer(db_session, shop, me)
            return _password_page(
                request,
                shop,
                has_password=customer is not None and customer.password_hash is not None,
                error=gettext(request_locale(request), problem),
                status_code=422,
            )
        renewed = await mypage.set_password(db_session, shop, me, password)
        return _after_password_change(shop, settings, signer, renewed, "set")

    @post("/password/remove", status_code=200)
    async def remove_password(
        self,
        shop: NamedDependency[Tenant],
        me: NamedDependency[mypage.MyPageSession],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        signer: NamedDependency[Signer],
    ) -> Redirect:
        renewed = await mypage.set_password(db_session, shop, me, None)
        return _after_password_change(shop, settings, signer, renewed, "removed")

    @post("/logout", status_code=200)
    async def logout(
        self,
        shop: NamedDependency[Tenant],
        visitor: NamedDependency[mypage.MyPageSession | None],
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        if visitor is not None:  # ends the session everywhere, not only in this browser
            await mypage.end_sessions(db_session, shop, visitor)
        gone = Cookie(
            key=mypage.SESSION_COOKIE,
            value="",
            max_age=0,
            path=urls.shop_path(shop.facility.slug),
            httponly=True,
            samesite="lax",
        )
        return Redirect(urls.mypage_path(shop.facility.slug), status_code=303, cookies=[gone])


def _after_password_change(
    shop: Tenant,
    settings: Settings,
    signer: Signer,
    renewed: mypage.MyPageSession | None,
    notice: str,
) -> Redirect:
    """Back to My Page with this browser's session renewed (the change ended the rest)."""
    cookies = [_session_cookie(shop, settings, signer, renewed)] if renewed else []
    return Redirect(
        f"{urls.mypage_path(shop.facility.slug)}?password={notice}",
        status_code=303,
        cookies=cookies,
    )


def _session_cookie(
    shop: Tenant, settings: Settings, signer: Signer, me: mypage.MyPageSession
) -> Cookie:
    """The My Page session cookie, as the magic link sets it."""
    return Cookie(
        key=mypage.SESSION_COOKIE,
        value=mypage.session_cookie_value(signer, me),
        max_age=mypage.SESSION_MAX_AGE,
        path=urls.shop_path(shop.facility.slug),
        httponly=True,
        samesite="lax",
        secure=settings.served_over_tls,
    )


def _password_page(
    request: Request[Any, Any, Any],
    shop: Tenant,
    *,
    has_password: bool,
    error: str = "",
    status_code: int = 200,
) -> Template:
    return render_page(
        request,
        "mypage_password.html",
        {
            **shop_context(shop, request_locale(request)),
            "has_password": has_password,
            "error": error,
            "min_length": mypage.MIN_PASSWORD_LENGTH,
        },
        status_code=status_code,
    )


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


WEB_ROUTE_HANDLERS: list[Any] = [
    healthz,
    availability_widget,
    ShopController,
    MyPageController,
    *PAYMENT_PAGE_HANDLERS,
    *AFTERSALES_HANDLERS,
    *STAY_PAGE_HANDLERS,
]
