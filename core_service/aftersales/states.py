"""The refund and ticket-transfer state machines: every move of ``Refund.state`` and
``TicketTransfer.state``.

As for orders and payments, each transition is one conditional UPDATE from the state it
allows, scoped by facility, and says whether it moved the row; a retried or concurrent
call gets False and changes nothing (no second provider call, no second claim of a
ticket). None commits. A refund is born ``pending`` (or ``owed`` for a kiosk terminal
payment) by ``refunds.record_refund``, a transfer ``offered`` by
``distribution.offer_ticket``. The tables are in ``docs/states.md``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Refund, TicketTransfer
from core_service.platform.database import updated_one
from kippu_contract.states import RefundState, TransferState

#: A refund stuck in "sending" this long (a crash mid-call) may be sent again; the
#: provider sees the same idempotency key and does not refund twice.
STALE_SENDING = dt.timedelta(minutes=2)


async def _move_refund(
    session: AsyncSession,
    facility_id: int,
    refund_id: int,
    source: sa.ColumnElement[bool],
    target: RefundState,
    **values: Any,
) -> bool:
    return await updated_one(
        session,
        sa.update(Refund)
        .where(Refund.id == refund_id, Refund.facility_id == facility_id, source)
        .values(state=target, **values),
    )


async def start_sending(
    session: AsyncSession, facility_id: int, refund_id: int, now: dt.datetime
) -> bool:
    """pending → sending or failed → sending (a retry), or sending → sending when the
    last attempt has had no outcome for :data:`STALE_SENDING`: this caller calls the
    provider. Counts the attempt."""
    return await _move_refund(
        session,
        facility_id,
        refund_id,
        sa.or_(
            Refund.state.in_((RefundState.PENDING, RefundState.FAILED)),
            sa.and_(Refund.state == RefundState.SENDING, Refund.updated_at < now - STALE_SENDING),
        ),
        RefundState.SENDING,
        attempts=Refund.attempts + 1,
    )


async def sent(
    session: AsyncSession,
    facility_id: int,
    refund_id: int,
    *,
    settled: bool,
    provider_ref: str,
    now: dt.datetime,
) -> bool:
    """sending → refunded (``settled``) or sending → processing (the provider accepted
    and settles later)."""
    return await _move_refund(
        session,
        facility_id,
        refund_id,
        Refund.state == RefundState.SENDING,
        RefundState.REFUNDED if settled else RefundState.PROCESSING,
        provider_ref=provider_ref,
        refunded_at=now if settled else None,
        last_error="",
    )


async def send_failed(session: AsyncSession, facility_id: int, refund_id: int, error: str) -> bool:
    """sending → failed: the provider refused or could not be reached (retry later)."""
    return await _move_refund(
        session,
        facility_id,
        refund_id,
        Refund.state == RefundState.SENDING,
        RefundState.FAILED,
        last_error=error,
    )


async def pay_out(
    session: AsyncSession, facility_id: int, refund_id: int, now: dt.datetime
) -> bool:
    """owed → paid_out: staff handed a kiosk payment's refund back in person."""
    return await _move_refund(
        session,
        facility_id,
        refund_id,
        Refund.state == RefundState.OWED,
        RefundState.PAID_OUT,
        refunded_at=now,
    )


async def claim_transfer(
    session: AsyncSession,
    facility_id: int,
    transfer_id: int,
    *,
    holder_name: str,
    holder_key: str,
    now: dt.datetime,
) -> bool:
    """offered → claimed: the companion takes the ticket; only the first claim wins."""
    return await updated_one(
        session,
        sa.update(TicketTransfer)
        .where(
            TicketTransfer.id == transfer_id,
            TicketTransfer.facility_id == facility_id,
            TicketTransfer.state == TransferState.OFFERED,
        )
        .values(
            state=TransferState.CLAIMED,
            holder_name=holder_name,
            holder_key=holder_key,
            claimed_at=now,
        ),
    )
