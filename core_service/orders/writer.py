"""Writing a built sale: one statement on PostgreSQL (:mod:`.sale_statement`), the ORM on
SQLite, consuming the capacity receipts (and writing the sale's webhook events, if it
has any) in the same transaction.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core_service.catalog import reservations
from core_service.orders import sale_statement
from core_service.orders.issuing import note_first_purchase
from core_service.webhooks import outbox


async def write_sale(
    connection: AsyncConnection,
    session: AsyncSession,
    sale: sale_statement.Sale,
    receipts: list[reservations.Reservation],
    announce: outbox.Announcement | None = None,
) -> bool:
    """Write the sale and consume its receipts: one statement on PostgreSQL, the ORM on
    SQLite (which has no data-modifying CTEs). False when a receipt was swept."""
    if connection.dialect.name == "postgresql":
        receipt_ids = [r.id for r in receipts]
        return await sale_statement.write_order(connection, session, sale, receipt_ids, announce)
    return await write_with_orm(session, sale, receipts, announce)


async def write_with_orm(
    session: AsyncSession,
    sale: sale_statement.Sale,
    receipts: list[reservations.Reservation],
    announce: outbox.Announcement | None = None,
) -> bool:
    """The ORM writer (SQLite): the sale's objects in the session's transaction, which
    also consumes the receipts; False, nothing committed, if one was swept meanwhile."""
    order = sale.order
    order.lines, order.tickets = list(sale.lines), []
    session.add(order)
    await session.flush()
    for consent in sale.consents:
        consent.order_id = order.id
    for _, _, holder in sale.holders:
        holder.order_id = order.id
    for line_index, _, holder in sale.holders:
        holder.order_line_id = sale.lines[line_index].id
    session.add_all([*sale.consents, *(h for _, _, h in sale.holders)])
    if sale.payment is not None and sale.payment_event is not None:
        sale.payment.order_id = order.id
        session.add(sale.payment)
        await session.flush()
        sale.payment_event.payment_id = sale.payment.id
        session.add(sale.payment_event)
    for line_index, ticket in sale.tickets:
        ticket.order_id = order.id
        ticket.order_line_id = sale.lines[line_index].id
    order.tickets.extend(ticket for _, ticket in sale.tickets)
    await session.flush()
    for _, ticket_index, holder in sale.holders:
        if ticket_index is not None:
            holder.ticket_id = sale.tickets[ticket_index][1].id
    if sale.first_purchase_customer_id is not None:
        await note_first_purchase(session, sale.first_purchase_customer_id, sale.now)
    if announce is not None:
        await outbox.write(session, announce())
    if not await reservations.consume(session, receipts):
        return False  # the caller rolls back
    await session.commit()
    return True
