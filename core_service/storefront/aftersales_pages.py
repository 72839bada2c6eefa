"""Visitor pages after the sale: handing tickets on, claiming them, receipts, self-cancel.

- ``POST /shop/<slug>/orders/<code>/tickets/<id>/share``: the buyer makes a claim link
  for one ticket (and may have it e-mailed); the order page then shows the link.
- ``GET|POST /shop/<slug>/claim/<claim key>``: the companion claims the ticket with their
  name and is sent to ``/shop/<slug>/tickets/<holder key>``, a page with only their ticket.
- ``GET|POST /shop/<slug>/orders/<code>/receipt``: addressee and purpose, then the PDF.
- ``GET|POST /shop/<slug>/my/orders/<code>/cancel``: self-cancellation from My Page,
  offered only where the facility's policy allows it (F7).

Every form is a plain POST answered with a redirect or the form again with its errors.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.aftersales import distribution
from core_service.aftersales.receipts import DEFAULT_PURPOSE, issue_receipt, receipts_of
from core_service.models import Customer
from core_service.platform import urls
from core_service.platform.errors import Conflict, Forbidden, InvalidInput
from core_service.platform.security import new_token
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from core_service.storefront import checkout, mypage, self_cancel
from core_service.storefront.mypage_access import MYPAGE_DEPENDENCIES, MYPAGE_EXCEPTION_HANDLERS
from core_service.storefront.rendering import render_page, request_locale
from core_service.storefront.shop import provide_shop, shop_context
from core_service.storefront.ticket_page import ticket_views


class AfterSalesPages(Controller):
    path = "/shop/{facility_slug:str}"
    dependencies = {"shop": Provide(provide_shop), **MYPAGE_DEPENDENCIES}
    exception_handlers = MYPAGE_EXCEPTION_HANDLERS

    @post("/orders/{code:str}/tickets/{ticket_id:int}/share", status_code=200)
    async def share(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        ticket_id: FromPath[int],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Redirect:
        form = await request.form()
        key = form.get("key") or ""
        order = await checkout.order_for_visitor(db_session, shop, code, key)
        await distribution.offer_ticket(
            db_session,
            shop,
            order,
            ticket_id,
            email=form.get("email") or "",
            claim_url_base=settings.base_url,
            locale=request_locale(request),
        )
        target = urls.order_path(shop.facility.slug, code, key, shared=str(ticket_id))
        return Redirect(f"{target}#ticket-{ticket_id}", status_code=303)

    @get("/claim/{claim_key:str}")
    async def claim_form(
        self,
        request: Request[Any, Any, Any],
        claim_key: FromPath[str],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        view = await distribution.load_claim(db_session, shop, claim_key)
        return self._claim_page(request, shop, view, name="", error="")

    @post("/claim/{claim_key:str}", status_code=200)
    async def claim(
        self,
        request: Request[Any, Any, Any],
        claim_key: FromPath[str],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> Template | Redirect:
        name = (await request.form()).get("name") or ""
        try:
            transfer = await distribution.claim_ticket(db_session, shop, claim_key, name)
        except (InvalidInput, Conflict) as exc:
            view = await distribution.load_claim(db_session, shop, claim_key)
            return self._claim_page(
                request,
                shop,
                view,
                name=name,
                error=exc.message(request_locale(request)),
                status_code=exc.status_code,
            )
        assert transfer.holder_key is not None
        return Redirect(
            distribution.holder_path(shop.facility.slug, transfer.holder_key), status_code=303
        )

    def _claim_page(
        self,
        request: Request[Any, Any, Any],
        shop: Tenant,
        view: distribution.ClaimView,
        *,
        name: str,
        error: str,
        status_code: int = 200,
    ) -> Template:
        locale = request_locale(request)
        line = next(li for li in view.order.lines if li.id == view.ticket.order_line_id)
        return render_page(
            request,
            "claim.html",
            shop_context(
                shop,
                locale,
                transfer=view.transfer,
                ticket=view.ticket,
                line=line,
                name=name,
                error=error,
            ),
            status_code=status_code,
        )

    @get("/tickets/{holder_key:str}")
    async def holder_ticket(
        self,
        request: Request[Any, Any, Any],
        holder_key: FromPath[str],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Template:
        locale = request_locale(request)
        view = await distribution.load_holder_ticket(db_session, shop, holder_key)
        tickets = await ticket_views(
            db_session, shop.facility, view.order, settings.secret_key, locale
        )
        mine = next(t for t in tickets if t.id == view.ticket.id)
        return render_page(
            request,
            "holder_ticket.html",
            shop_context(shop, locale, ticket=mine, holder_name=view.transfer.holder_name),
        )

    @get("/orders/{code:str}/receipt")
    async def receipt_form(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        key: FromQuery[str] = "",
    ) -> Template:
        order = await checkout.order_for_visitor(db_session, shop, code, key)
        customer = await db_session.get(Customer, order.customer_id) if order.customer_id else None
        return await self._receipt_page(
            request,
            shop,
            db_session,
            order,
            key,
            addressee=customer.name if customer else "",
            purpose=DEFAULT_PURPOSE,
            error="",
        )

    async def _receipt_page(
        self,
        request: Request[Any, Any, Any],
        shop: Tenant,
        db_session: AsyncSession,
        order: Any,
        key: str,
        *,
        addressee: str,
        purpose: str,
        error: str,
        status_code: int = 200,
    ) -> Template:
        locale = request_locale(request)
        return render_page(
            request,
            "receipt.html",
            shop_context(
                shop,
                locale,
                order=order,
                access_key=key,
                addressee=addressee,
                purpose=purpose,
                error=error,
                issued=await receipts_of(db_session, order),
                order_url=urls.order_path(shop.facility.slug, order.code, key),
            ),
            status_code=status_code,
        )

    @post("/orders/{code:str}/receipt", status_code=200)
    async def receipt(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> Response[bytes] | Template:
        form = await request.form()
        key = form.get("key") or ""
        order = await checkout.order_for_visitor(db_session, shop, code, key)
        addressee, purpose = form.get("addressee") or "", form.get("purpose") or ""
        try:
            receipt, pdf = await issue_receipt(
                db_session,
                shop,
                order,
                addressee=addressee,
                purpose=purpose,
                locale=request_locale(request),
            )
        except (InvalidInput, Conflict) as exc:
            return await self._receipt_page(
                request,
                shop,
                db_session,
                order,
                key,
                addressee=addressee,
                purpose=purpose,
                error=exc.message(request_locale(request)),
                status_code=exc.status_code,
            )
        return Response(
            content=pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="receipt-{receipt.number}.pdf"',
                "Cache-Control": "no-store",
            },
        )

    @get("/my/orders/{code:str}/cancel")
    async def cancel_form(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        shop: NamedDependency[Tenant],
        me: NamedDependency[mypage.MyPageSession],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        order = await mypage.my_order(db_session, shop, me, code)
        return await self._cancel_page(request, shop, db_session, order, error="")

    async def _cancel_page(
        self,
        request: Request[Any, Any, Any],
        shop: Tenant,
        db_session: AsyncSession,
        order: Any,
        *,
        error: str,
        status_code: int = 200,
    ) -> Template:
        locale = request_locale(request)
        choices = await self_cancel.cancel_choices(db_session, shop, order)
        return render_page(
            request,
            "mypage_cancel.html",
            shop_context(
                shop,
                locale,
                order=order,
                tickets=choices.tickets,
                quotes=choices.quotes,
                lines=choices.lines,
                self_cancel=choices.self_cancel,
                error=error,
                form_key=new_token(16),
                action=mypage.cancel_path(shop.facility.slug, order.code),
            ),
            status_code=status_code,
        )

    @post("/my/orders/{code:str}/cancel", status_code=200)
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        shop: NamedDependency[Tenant],
        me: NamedDependency[mypage.MyPageSession],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        order = await mypage.my_order(db_session, shop, me, code)
        form = await request.form()
        locale = request_locale(request)
        ids = self_cancel.chosen_ticket_ids(form.getall("ticket") if "ticket" in form else [])
        try:
            await self_cancel.cancel_mine(
                db_session, shop, me, order, ids, form.get("form_key") or "", settings=settings
            )
        except (InvalidInput, Conflict, Forbidden) as exc:
            order = await mypage.my_order(db_session, shop, me, code)
            await db_session.refresh(order, ["status", "tickets"])
            return await self._cancel_page(
                request,
                shop,
                db_session,
                order,
                error=exc.message(locale),
                status_code=exc.status_code,
            )
        return Redirect(f"{urls.mypage_path(shop.facility.slug)}?cancelled={code}", status_code=303)


AFTERSALES_HANDLERS: list[Any] = [AfterSalesPages]
