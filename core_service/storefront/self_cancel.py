"""Self-cancellation from My Page (F7): which tickets a visitor may cancel, and doing it.

A visitor may cancel a ticket of their own order when it is still cancellable, was not
handed on to a companion (the companion holds it now), and the facility's policy lets
visitors cancel that many days before the visit. The cancellation itself, its fee and its
refund are :func:`core_service.aftersales.cancellation.cancel_tickets` with
``self_service=True``, which checks the policy again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core_service.aftersales.cancellation import (
    TicketQuote,
    cancel_tickets,
    cancellable,
    claimed_ticket_ids,
    policy_of,
    quote,
)
from core_service.models import Order, OrderLine, Ticket
from core_service.platform.errors import InvalidInput
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from core_service.storefront.mypage import MyPageSession

#: Longest form key kept: it becomes part of the cancellation's idempotency key.
MAX_FORM_KEY_LENGTH = 60


@dataclass(frozen=True, slots=True)
class CancelChoices:
    """What the self-cancel page offers for one order."""

    #: Tickets the visitor may cancel now.
    tickets: list[Ticket]
    #: The quote of every cancellable ticket not handed on, by ticket id.
    quotes: Mapping[int, TicketQuote]
    lines: Mapping[int, OrderLine]
    #: Whether the facility lets visitors cancel at all.
    self_cancel: bool


async def cancel_choices(session: AsyncSession, shop: Tenant, order: Order) -> CancelChoices:
    handed_on = await claimed_ticket_ids(session, order)
    policy = policy_of(shop)
    choices = [t for t in order.tickets if cancellable(t) and t.id not in handed_on]
    quotes = (
        {q.ticket_id: q for q in quote(shop, order, [t.id for t in choices]).tickets}
        if choices
        else {}
    )
    allowed = [t for t in choices if policy.visitor_may_cancel(quotes[t.id].days_before)]
    return CancelChoices(
        tickets=allowed,
        quotes=quotes,
        lines={line.id: line for line in order.lines},
        self_cancel=policy.self_cancel,
    )


def chosen_ticket_ids(values: list[Any]) -> list[int]:
    """The ticket ids ticked in the form; a tampered value means nothing was chosen."""
    try:
        return [int(v) for v in values]
    except ValueError:
        return []


async def cancel_mine(
    session: AsyncSession,
    shop: Tenant,
    me: MyPageSession,
    order: Order,
    ticket_ids: list[int],
    form_key: str,
    *,
    settings: Settings,
) -> None:
    """Cancel the visitor's chosen tickets; once per form (the form key), however often
    it is submitted. Raises InvalidInput, Conflict or Forbidden for the form to show."""
    form_key = form_key[:MAX_FORM_KEY_LENGTH]
    if not ticket_ids or not form_key:
        raise InvalidInput(
            "Choose the tickets to cancel.", "キャンセルするチケットを選んでください。"
        )
    await cancel_tickets(
        session,
        shop,
        order,
        ticket_ids=ticket_ids,
        actor=f"visitor:{me.customer_id}",
        idempotency_key=f"mypage:{me.customer_id}:{form_key}",
        settings=settings,
        self_service=True,
    )
