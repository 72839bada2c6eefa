"""Paying a time stay online (F19): the ticket page shows what the stay owes, and a pay
button turns it into a charge order that goes through the normal payment flow.

The charge order (:mod:`core_service.checkin.stay_charges`) is pending until the payment
provider confirms it, like a web checkout; its own order page then shows it paid, with
its receipt. The pay form carries the quoted ``period_total``, so a double click pays
the period once, and a quote that went stale meanwhile is refused (409) rather than
charging an amount the visitor did not see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.checkin.stay_charges import charge_order
from core_service.checkin.stays import StayQuote, ticket_stay
from core_service.models import Order
from core_service.platform import urls
from core_service.platform.errors import InvalidInput, NotFound
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from core_service.storefront import checkout
from core_service.storefront.rendering import request_locale
from core_service.storefront.shop import provide_shop
from kippu_contract.states import OrderStatus


@dataclass(frozen=True, slots=True)
class StayView:
    """One open stay of the order's tickets, as the ticket page shows it."""

    ticket_id: int
    minutes: int
    paid: int
    due: int
    period_total: int
    pay_url: str


async def stay_views(session: AsyncSession, shop: Tenant, order: Order) -> dict[int, StayView]:
    """The open stays of a paid order's tickets, by ticket id (empty for most orders)."""
    if order.status != OrderStatus.PAID:
        return {}
    views = {}
    for ticket in order.tickets:
        quote = await ticket_stay(session, shop, ticket)
        if quote is not None:
            views[ticket.id] = _view(shop, order, quote)
    return views


def _view(shop: Tenant, order: Order, quote: StayQuote) -> StayView:
    ticket_id = quote.ticket.id
    return StayView(
        ticket_id=ticket_id,
        minutes=quote.minutes,
        paid=quote.paid,
        due=quote.due,
        period_total=quote.period_total,
        pay_url=f"/shop/{shop.facility.slug}/orders/{order.code}/tickets/{ticket_id}/stay-pay",
    )


class StayPages(Controller):
    path = "/shop/{facility_slug:str}"
    dependencies = {"shop": Provide(provide_shop)}

    @post("/orders/{code:str}/tickets/{ticket_id:int}/stay-pay", status_code=200)
    async def pay_stay(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        ticket_id: FromPath[int],
        shop: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        signer: NamedDependency[Signer],
    ) -> Redirect:
        form = await request.form()
        order = await checkout.order_for_visitor(db_session, shop, code, form.get("key") or "")
        ticket = next((t for t in order.tickets if t.id == ticket_id), None)
        quote = await ticket_stay(db_session, shop, ticket) if ticket is not None else None
        if quote is None:
            raise NotFound(
                "This ticket has no stay in progress.", "このチケットの滞在記録がありません。"
            )
        try:
            period_total = int(form.get("period_total") or "")
        except ValueError:
            raise InvalidInput("The charge is missing.", "利用料金が指定されていません。") from None
        charge, _ = await charge_order(
            db_session,
            shop,
            quote,
            channel="web",
            period_total=period_total,
            hold_minutes=settings.hold_minutes,
            locale=request_locale(request),
        )
        if charge.status != OrderStatus.PENDING:  # a replay of a paid (or expired) charge
            return Redirect(
                urls.order_path(shop.facility.slug, charge.code, charge.access_key),
                status_code=303,
            )
        target = await checkout.pay(
            db_session, shop, charge, form.get("payment") or "", settings=settings, signer=signer
        )
        return Redirect(target, status_code=303)


STAY_PAGE_HANDLERS: list[Any] = [StayPages]
