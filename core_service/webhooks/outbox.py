"""Recording webhook events in the transaction of the change they announce (the outbox).

A service that moves an order, a ticket or a refund calls :func:`record` (or builds the
events with :func:`new_event` and writes them with :func:`write`) *before* its commit:
the event row and one delivery row per subscribed, active endpoint then commit or roll
back with the change itself, so a crash never loses an event nor announces a change that
did not happen. Nothing here commits.

Which event types have subscribers comes from the tenant's cached snapshot on the device
paths (kiosk sales, gate scans: ``Tenant.webhook_subscriptions``, kept fresh by the
``webhook_endpoint`` triggers), so an event nobody subscribed to costs those paths no
query at all; other requests ask the database once per event.

Deliveries are inserted with ``INSERT ... SELECT`` from the endpoint table, so an
endpoint deleted or switched off since the snapshot was taken simply gets none (a
foreign key failure there would undo the sale). The payload of each event type is built
in :mod:`.payloads`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Order, Product, Ticket, WebhookDelivery, WebhookEndpoint, utcnow
from core_service.models import WebhookEvent as EventRow
from core_service.platform.tenancy import Tenant, load_webhook_subscriptions
from core_service.webhooks import payloads
from kippu_contract.states import WebhookDeliveryState
from kippu_contract.webhooks import ORDER_PAID, PASS_ISSUED, TICKET_REDEEMED, WebhookEvent

Subscriptions = Mapping[str, tuple[int, ...]]

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event built and not yet written, with the endpoints subscribed to it."""

    facility_id: int
    uuid: str
    type: str
    created_at: dt.datetime
    #: The JSON body every attempt sends (and signs).
    body: str
    endpoint_ids: tuple[int, ...]


#: Builds a sale's events once its rows have ids (the writers call it before committing).
Announcement = Callable[[], list[NewEvent]]


async def subscriptions(session: AsyncSession, tenant: Tenant) -> Subscriptions:
    """Active endpoints by event type: the cached snapshot's, else from the database."""
    if tenant.webhook_subscriptions is not None:
        return tenant.webhook_subscriptions
    return await load_webhook_subscriptions(session, tenant.id)


def new_event(
    tenant: Tenant,
    subscribed: Subscriptions,
    event_type: str,
    data: dict[str, Any],
    *,
    now: dt.datetime | None = None,
) -> NewEvent | None:
    """The event, or None when no endpoint receives ``event_type`` (nothing to write)."""
    endpoint_ids = subscribed.get(event_type, ())
    if not endpoint_ids:
        return None
    event_id = str(uuid.uuid4())
    created_at = now or utcnow()
    body = WebhookEvent(
        id=event_id,
        type=event_type,
        created_at=created_at,
        facility=tenant.facility.slug,
        data=data,
    )
    return NewEvent(
        tenant.id, event_id, event_type, created_at, _encoder.encode(body).decode(), endpoint_ids
    )


async def record(
    session: AsyncSession, tenant: Tenant, event_type: str, data: dict[str, Any]
) -> NewEvent | None:
    """Write one event and its deliveries in the session's transaction (no commit);
    None, and nothing written, when no active endpoint receives ``event_type``."""
    event = new_event(tenant, await subscriptions(session, tenant), event_type, data)
    if event is not None:
        await write(session, [event])
    return event


def wants_paid_order(subscribed: Subscriptions) -> bool:
    """Whether an order becoming paid would announce anything (order.paid, pass.issued)."""
    return bool(subscribed.get(ORDER_PAID) or subscribed.get(PASS_ISSUED))


def paid_order_events(
    tenant: Tenant,
    subscribed: Subscriptions,
    order: Order,
    tickets: Sequence[Ticket],
    products: Mapping[int, Product],
) -> list[NewEvent]:
    """order.paid for the order and pass.issued for each annual pass among its tickets
    (which carry their ids by now), as far as anyone receives them."""
    now = utcnow()
    events = [
        new_event(tenant, subscribed, ORDER_PAID, payloads.order_paid(order, tickets), now=now)
    ]
    if subscribed.get(PASS_ISSUED):
        for ticket in tickets:
            product = products[ticket.product_id]
            if product.kind == "annual_pass":
                data = payloads.pass_issued(order, ticket, product)
                events.append(new_event(tenant, subscribed, PASS_ISSUED, data, now=now))
    return [e for e in events if e is not None]


async def record_paid_order(session: AsyncSession, tenant: Tenant, order: Order) -> None:
    """The events of an order that has just become paid in this transaction (its
    tickets issued and flushed): :func:`paid_order_events`, written."""
    subscribed = await subscriptions(session, tenant)
    if not wants_paid_order(subscribed):
        return
    rows = (
        await session.execute(
            sa.select(Ticket, Product)
            .join(Product, Product.id == Ticket.product_id)
            .where(Ticket.order_id == order.id, Ticket.facility_id == tenant.id)
            .order_by(Ticket.id)
        )
    ).all()
    tickets = [ticket for ticket, _ in rows]
    products = {product.id: product for _, product in rows}
    await write(session, paid_order_events(tenant, subscribed, order, tickets, products))


async def record_redemptions(
    session: AsyncSession,
    tenant: Tenant,
    tickets: Sequence[Ticket],
    *,
    direction: str,
    gate_id: int | None,
    order_code: str = "",
) -> None:
    """ticket.redeemed for each ticket a scan has just used, if anyone receives it.
    ``order_code`` is the tickets' order's (all of one order), looked up when not given."""
    if not tickets:
        return
    subscribed = await subscriptions(session, tenant)
    if not subscribed.get(TICKET_REDEEMED):
        return
    if not order_code:
        code = await session.scalar(sa.select(Order.code).where(Order.id == tickets[0].order_id))
        order_code = code or ""
    now = utcnow()
    events = []
    for ticket in tickets:
        product = await session.get(Product, ticket.product_id)  # the scan loaded it already
        data = payloads.ticket_redeemed(ticket, product, order_code, direction, gate_id)
        events.append(new_event(tenant, subscribed, TICKET_REDEEMED, data, now=now))
    await write(session, [e for e in events if e is not None])


def _event_row(event: NewEvent) -> dict[str, Any]:
    return {
        "facility_id": event.facility_id,
        "uuid": event.uuid,
        "type": event.type,
        "body": event.body,
        "created_at": event.created_at,
    }


def _deliveries_of(event_id: int, event: NewEvent) -> sa.Select[*tuple[Any, ...]]:
    """One pending delivery row per endpoint of ``event`` that still exists and is active."""
    now = event.created_at
    return sa.select(
        sa.literal(event.facility_id, WebhookDelivery.facility_id.type),
        sa.literal(event_id, WebhookDelivery.event_id.type),
        WebhookEndpoint.id,
        sa.literal(WebhookDeliveryState.PENDING, WebhookDelivery.status.type),
        sa.literal(0),
        sa.literal(now, WebhookDelivery.next_attempt_at.type),
        sa.literal(""),
        sa.literal(now, WebhookDelivery.created_at.type),
        sa.literal(now, WebhookDelivery.updated_at.type),
    ).where(
        WebhookEndpoint.id.in_(event.endpoint_ids),
        WebhookEndpoint.facility_id == event.facility_id,
        WebhookEndpoint.active.is_(True),
    )


_DELIVERY_COLUMNS = (
    "facility_id",
    "event_id",
    "endpoint_id",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
    "updated_at",
)


async def write(session: AsyncSession, events: Sequence[NewEvent]) -> None:
    """Insert ``events`` and their deliveries in the session's transaction (2 statements)."""
    if not events:
        return
    ids = (
        await session.scalars(
            sa.insert(EventRow).returning(EventRow.id, sort_by_parameter_order=True),
            [_event_row(e) for e in events],
        )
    ).all()
    selects = [_deliveries_of(i, e) for i, e in zip(ids, events, strict=True)]
    source = selects[0] if len(selects) == 1 else sa.union_all(*selects)
    await session.execute(sa.insert(WebhookDelivery).from_select(list(_DELIVERY_COLUMNS), source))


#: PostgreSQL, straight through the driver inside the one-statement sale writer's
#: transaction (``orders.sale_statement``): the events and their deliveries in one
#: statement. $1 the events as JSON (each with its endpoint ids), $2 now.
DRIVER_SQL = """
WITH given AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS e(
    facility_id bigint, uuid text, type text, body text, created_at timestamptz,
    endpoint_ids bigint[])
), events AS (
  INSERT INTO webhook_event (facility_id, uuid, type, body, created_at)
  SELECT facility_id, uuid, type, body, created_at FROM given
  RETURNING id, uuid
)
INSERT INTO webhook_delivery (facility_id, event_id, endpoint_id, status, attempts,
                              next_attempt_at, last_error, created_at, updated_at)
SELECT endpoint.facility_id, events.id, endpoint.id, 'pending', 0, $2, '', $2, $2
FROM events JOIN given USING (uuid)
JOIN webhook_endpoint endpoint
  ON endpoint.id = ANY(given.endpoint_ids) AND endpoint.facility_id = given.facility_id
WHERE endpoint.active
"""


async def write_on_driver(driver: Any, events: Sequence[NewEvent]) -> None:
    """:func:`write` on an asyncpg connection (the caller holds the transaction)."""
    if not events:
        return
    rows = [{**_event_row(e), "endpoint_ids": list(e.endpoint_ids)} for e in events]
    await driver.execute(DRIVER_SQL, _encoder.encode(rows).decode(), events[0].created_at)
