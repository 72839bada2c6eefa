"""Ticket distribution (F2): the buyer hands single tickets of an order to companions.

The buyer makes a claim link for one ticket (and may have it e-mailed through the
outbox). The companion opens it, gives their name and claims the ticket. Claiming bumps
``Ticket.secret_version``, so every QR code the buyer saw before stops working at the
gate, and issues the companion a page of their own (``holder_key``) that shows only
their ticket. The claim link itself never shows a QR code: the buyer knows it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.aftersales import states
from core_service.mailing.addresses import is_email_address
from core_service.mailing.outbox import enqueue
from core_service.models import AuditLog, Order, Ticket, TicketTransfer, utcnow
from core_service.platform.errors import Conflict, InvalidInput, NotFound
from core_service.platform.security import new_token
from core_service.platform.tenancy import Tenant, refresh_after_rollback
from kippu_contract.states import OrderStatus, TicketStatus, TransferState

MAX_NAME_LENGTH = 100


@dataclass(frozen=True, slots=True)
class ClaimView:
    """What a claim link leads to: the transfer, its ticket and its order."""

    transfer: TicketTransfer
    ticket: Ticket
    order: Order


def claim_path(slug: str, claim_key: str) -> str:
    return f"/shop/{slug}/claim/{claim_key}"


def holder_path(slug: str, holder_key: str) -> str:
    return f"/shop/{slug}/tickets/{holder_key}"


async def transfers_of(session: AsyncSession, order: Order) -> dict[int, TicketTransfer]:
    """The order's hand-ons by ticket id."""
    rows = await session.scalars(
        sa.select(TicketTransfer).where(
            TicketTransfer.facility_id == order.facility_id, TicketTransfer.order_id == order.id
        )
    )
    return {t.ticket_id: t for t in rows}


async def offer_ticket(
    session: AsyncSession,
    tenant: Tenant,
    order: Order,
    ticket_id: int,
    *,
    email: str = "",
    claim_url_base: str,
    locale: str,
) -> TicketTransfer:
    """The claim link of one ticket of a paid order, made once.

    A repeated request (a double click, or the buyer asking again to e-mail it) returns
    the same link; an e-mail address given later is sent the same link.
    """
    email = email.strip().lower()
    order_code = order.code
    if email and not is_email_address(email):
        raise InvalidInput(
            "This e-mail address does not look right.", "メールアドレスの形式が正しくありません。"
        )
    if order.status != OrderStatus.PAID:
        raise Conflict(
            "Only tickets of a paid order can be handed on.",
            "お支払い済みのご注文のチケットのみお渡しできます。",
        )
    ticket = next((t for t in order.tickets if t.id == ticket_id), None)
    if ticket is None:
        raise NotFound("No such ticket in this order.", "このご注文にそのチケットはありません。")
    if ticket.status != TicketStatus.VALID or ticket.uses_left < ticket.uses_total:
        raise Conflict(
            "This ticket can no longer be handed on.", "このチケットはお渡しできません。"
        )
    transfer = (await transfers_of(session, order)).get(ticket.id)
    if transfer is None:
        transfer = TicketTransfer(
            facility_id=tenant.id,
            order_id=order.id,
            ticket_id=ticket.id,
            claim_key=new_token(24),
            recipient_email=email,
        )
        session.add(transfer)
        try:
            await session.flush()
        except IntegrityError:
            # A concurrent request for the same ticket won: use its link.
            await session.rollback()
            await refresh_after_rollback(session, tenant)
            transfer = await session.scalar(
                sa.select(TicketTransfer).where(TicketTransfer.ticket_id == ticket_id)
            )
            assert transfer is not None
    elif email:
        transfer.recipient_email = email
    if email and transfer.state == TransferState.OFFERED:
        _mail_claim_link(session, tenant, transfer, claim_url_base, locale)
    session.add(
        AuditLog(
            facility_id=tenant.id,
            at=utcnow(),
            actor=f"order:{order_code}",
            action="ticket.offered",
            subject=f"ticket:{ticket.id}",
            data={"emailed": bool(email)},
        )
    )
    await session.commit()
    return transfer


def _mail_claim_link(
    session: AsyncSession, tenant: Tenant, transfer: TicketTransfer, base: str, locale: str
) -> None:
    facility = tenant.facility
    url = base.rstrip("/") + claim_path(facility.slug, transfer.claim_key)
    # Both languages: the buyer cannot know which one the companion reads.
    text = (
        f"{facility.name_ja}のチケットが届きました。\n"
        f"次のリンクを開き、お名前を入力して受け取ってください。\n{url}\n\n"
        f"You have been given a ticket for {facility.name_en}.\n"
        f"Open this link and enter your name to claim it:\n{url}\n"
    )
    enqueue(
        session,
        tenant.id,
        kind="ticket_transfer",
        to=transfer.recipient_email,
        subject=f"チケットが届きました / A ticket for you: {facility.name(locale)}",
        text=text,
    )


async def load_claim(session: AsyncSession, tenant: Tenant, claim_key: str) -> ClaimView:
    transfer = await session.scalar(
        sa.select(TicketTransfer).where(
            TicketTransfer.facility_id == tenant.id, TicketTransfer.claim_key == claim_key
        )
    )
    if transfer is None:
        raise NotFound("This link is not valid.", "このリンクは無効です。")
    return await _view(session, transfer)


async def load_holder_ticket(session: AsyncSession, tenant: Tenant, holder_key: str) -> ClaimView:
    transfer = await session.scalar(
        sa.select(TicketTransfer).where(
            TicketTransfer.facility_id == tenant.id,
            TicketTransfer.holder_key == holder_key,
            TicketTransfer.state == TransferState.CLAIMED,
        )
    )
    if transfer is None:
        raise NotFound("This link is not valid.", "このリンクは無効です。")
    return await _view(session, transfer)


async def _view(session: AsyncSession, transfer: TicketTransfer) -> ClaimView:
    ticket = await session.get(Ticket, transfer.ticket_id)
    order = await session.get(Order, transfer.order_id)
    assert ticket is not None and order is not None
    return ClaimView(transfer, ticket, order)


async def claim_ticket(
    session: AsyncSession, tenant: Tenant, claim_key: str, holder_name: str
) -> TicketTransfer:
    """Give the ticket to the companion: new holder, new QR secret, a page of their own.

    One conditional UPDATE decides who claims, so a double submit or two people with the
    same link claim it once; the loser gets a Conflict.
    """
    name = " ".join(holder_name.split())
    if not name:
        raise InvalidInput(
            "Please enter your name.", "お名前を入力してください。", fields={"name": None}
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput("The name is too long.", "お名前が長すぎます。")
    view = await load_claim(session, tenant, claim_key)
    if view.transfer.state != TransferState.OFFERED:
        raise Conflict("This ticket has already been claimed.", "このチケットは受け取り済みです。")
    if view.ticket.status != TicketStatus.VALID:
        raise Conflict("This ticket is no longer valid.", "このチケットは無効になりました。")
    holder_key = new_token(24)
    now = utcnow()
    claimed = await states.claim_transfer(
        session, tenant.id, view.transfer.id, holder_name=name, holder_key=holder_key, now=now
    )
    if not claimed:
        await session.rollback()
        await refresh_after_rollback(session, tenant)
        raise Conflict("This ticket has already been claimed.", "このチケットは受け取り済みです。")
    await session.execute(
        sa.update(Ticket)
        .where(Ticket.id == view.ticket.id, Ticket.facility_id == tenant.id)
        .values(secret_version=Ticket.secret_version + 1, holder_name=name)
        .execution_options(synchronize_session=False)
    )
    session.add(
        AuditLog(
            facility_id=tenant.id,
            at=now,
            actor="visitor",
            action="ticket.claimed",
            subject=f"ticket:{view.ticket.id}",
            data={"order": view.order.code},
        )
    )
    await session.commit()
    await session.refresh(view.transfer)
    await session.refresh(view.ticket)
    return view.transfer
