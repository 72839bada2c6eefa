"""The webhook delivery state machine: every move of ``WebhookDelivery.status``.

As for orders, payments and refunds (docs/states.md), each transition is one conditional
UPDATE from the state it allows, scoped by facility, and says whether it moved the row;
none commits. A delivery is born ``pending`` in the outbox (``outbox.write``).

- :func:`claim`: pending (due) → sending, or sending → sending when the last claim's
  lease has lapsed (its worker was killed mid-attempt). Only the endpoint's *next*
  delivery can be claimed: none of the same endpoint with an earlier event may still be
  pending or sending, so one endpoint receives its events in order, and two workers never
  send one delivery (or one endpoint's deliveries) at the same time.
- :func:`delivered`, :func:`retry`, :func:`give_up`: sending → delivered, pending (with
  the back-off's ``next_attempt_at``) or failed; only for the claim that made the attempt
  (``attempts`` unchanged since), so a worker whose lease lapsed cannot overwrite the
  outcome of the one that took over.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core_service.models import WebhookDelivery, WebhookEndpoint
from core_service.platform.database import updated_one
from kippu_contract.states import WebhookDeliveryState

_UNFINISHED = (WebhookDeliveryState.PENDING, WebhookDeliveryState.SENDING)


def claimable(now: dt.datetime) -> sa.ColumnElement[bool]:
    """Due now, its endpoint active, and no earlier event of its endpoint unfinished."""
    earlier = aliased(WebhookDelivery)
    endpoint = aliased(WebhookEndpoint)  # not correlated with a query that joins endpoints
    return sa.and_(
        sa.or_(
            sa.and_(
                WebhookDelivery.status == WebhookDeliveryState.PENDING,
                WebhookDelivery.next_attempt_at <= now,
            ),
            sa.and_(
                WebhookDelivery.status == WebhookDeliveryState.SENDING,
                WebhookDelivery.lease_until < now,
            ),
        ),
        sa.exists()
        .where(endpoint.id == WebhookDelivery.endpoint_id, endpoint.active.is_(True))
        .correlate(WebhookDelivery),
        ~sa.exists()
        .where(
            earlier.endpoint_id == WebhookDelivery.endpoint_id,
            earlier.event_id < WebhookDelivery.event_id,
            earlier.status.in_(_UNFINISHED),
        )
        .correlate(WebhookDelivery),
    )


async def claim(
    session: AsyncSession,
    facility_id: int,
    delivery_id: int,
    *,
    now: dt.datetime,
    lease_until: dt.datetime,
) -> bool:
    """pending → sending (or a lapsed sending → sending): this caller makes the next
    attempt, until ``lease_until``. Counts the attempt."""
    return await updated_one(
        session,
        sa.update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.facility_id == facility_id,
            claimable(now),
        )
        .values(
            status=WebhookDeliveryState.SENDING,
            attempts=WebhookDelivery.attempts + 1,
            lease_until=lease_until,
            last_attempt_at=now,
        ),
    )


async def _settle(
    session: AsyncSession,
    facility_id: int,
    delivery_id: int,
    attempt: int,
    target: WebhookDeliveryState,
    **values: object,
) -> bool:
    return await updated_one(
        session,
        sa.update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.facility_id == facility_id,
            WebhookDelivery.status == WebhookDeliveryState.SENDING,
            WebhookDelivery.attempts == attempt,
        )
        .values(status=target, lease_until=None, **values),
    )


async def delivered(
    session: AsyncSession,
    facility_id: int,
    delivery_id: int,
    attempt: int,
    *,
    status_code: int,
    now: dt.datetime,
) -> bool:
    """sending → delivered: the endpoint answered 2xx to attempt ``attempt``."""
    return await _settle(
        session,
        facility_id,
        delivery_id,
        attempt,
        WebhookDeliveryState.DELIVERED,
        last_status_code=status_code,
        last_error="",
        delivered_at=now,
        next_attempt_at=None,
    )


async def retry(
    session: AsyncSession,
    facility_id: int,
    delivery_id: int,
    attempt: int,
    *,
    status_code: int | None,
    error: str,
    next_attempt_at: dt.datetime,
) -> bool:
    """sending → pending: attempt ``attempt`` failed; the next one at ``next_attempt_at``."""
    return await _settle(
        session,
        facility_id,
        delivery_id,
        attempt,
        WebhookDeliveryState.PENDING,
        last_status_code=status_code,
        last_error=error,
        next_attempt_at=next_attempt_at,
    )


async def give_up(
    session: AsyncSession,
    facility_id: int,
    delivery_id: int,
    attempt: int,
    *,
    status_code: int | None,
    error: str,
) -> bool:
    """sending → failed: the last allowed attempt failed too."""
    return await _settle(
        session,
        facility_id,
        delivery_id,
        attempt,
        WebhookDeliveryState.FAILED,
        last_status_code=status_code,
        last_error=error,
        next_attempt_at=None,
    )
