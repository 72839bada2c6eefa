"""PostgreSQL: a whole order written by ONE statement, straight through the driver.

The ORM writes an order with one INSERT per table inside a transaction: BEGIN, seven
statements, COMMIT, each a round trip and each built, compiled and flushed in Python.
During an onsale that Python work, not the database, is what limits sales per second
(``docs/benchmarks.md``). On PostgreSQL :func:`write_order` sends one data-modifying
statement instead:

- it locks the capacity receipts (``catalog.reservations``) and deletes them; only if
  every receipt was still there does it insert the order, its lines, tickets, pass
  holders, payment and payment event and consents, and stamp the customer's first
  purchase. A receipt the sweeper took in the meantime means nothing is written.
- rows travel as JSON and become typed rows with ``jsonb_populate_record``, so the
  columns' types come from the table itself; the column lists are read from the models
  once, at import.
- ids of lines and tickets are drawn from their sequences first, so tickets and holders
  can point at their line and ticket inside the same statement.

:func:`take_and_write_order` is the onsale case without a receipt: a paid sale of ONE
capacity row takes its places with the conditional UPDATE in the same statement that
writes the order. The row's lock still lives only inside the server (from the UPDATE to
the statement's commit, no round trip in between), and an order costs one statement and
one commit instead of two.

It writes exactly the ORM objects the shared builder in ``sales.service`` made (their
Python-side column defaults filled in here, as a flush would), and hands them back as
persistent objects of the session: callers see the same order either way, and SQLite
keeps the ORM path. ``tests/core/orders/test_sale_statement.py`` compares both paths row by row.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from core_service.catalog import reservations
from core_service.models import Base, ConsentRecord, Order, OrderLine, Payment, PaymentEvent, Ticket
from core_service.models.catalog import PassHolder
from core_service.models.export_seq import POSTGRESQL_EXPORT_SEQ
from core_service.platform.database import driver_connection
from core_service.webhooks import outbox


@dataclass(slots=True)
class Sale:
    """The objects of one order, built but not yet written."""

    order: Order
    lines: list[OrderLine]
    #: Per ticket: its index in ``lines``.
    tickets: list[tuple[int, Ticket]]
    #: Per pass holder: its line's index and the index of its ticket (None before payment).
    holders: list[tuple[int, int | None, PassHolder]]
    payment: Payment | None
    payment_event: PaymentEvent | None
    consents: list[ConsentRecord]
    #: The customer whose first purchase this is, if any and if paid.
    first_purchase_customer_id: int | None
    now: dt.datetime


def _columns(model: type[Base], *linked: str) -> list[str]:
    """Columns the JSON rows carry: all but the id, the links the statement fills and
    ``export_seq``, which the statement sets (its default is SQL, not a value)."""
    skipped = {"id", "export_seq", *linked}
    return [c.name for c in model.__table__.columns if c.name not in skipped]


#: The tables this statement writes that carry ``export_seq``.
_SEQUENCED = {
    m.__tablename__ for m in (Order, OrderLine, Ticket, Payment) if "export_seq" in m.__table__.c
}


def _insert(table: str, columns: list[str], linked: dict[str, str], source: str) -> str:
    """INSERT INTO table (links..., columns...) SELECT link exprs..., r.columns... FROM source."""
    if table in _SEQUENCED:
        linked = {**linked, "export_seq": POSTGRESQL_EXPORT_SEQ}
    names = ", ".join(f'"{c}"' for c in [*linked, *columns])
    values = ", ".join([*linked.values(), *(f'r."{c}"' for c in columns)])
    return f'INSERT INTO "{table}" ({names}) SELECT {values} FROM {source}'


_ORDER = _columns(Order)
_LINE = _columns(OrderLine, "order_id")
_TICKET = _columns(Ticket, "order_id", "order_line_id")
_HOLDER = _columns(PassHolder, "order_id", "order_line_id", "ticket_id")
_PAYMENT = _columns(Payment, "order_id")
_EVENT = _columns(PaymentEvent, "payment_id")
_CONSENT = _columns(ConsentRecord, "order_id")


def _line_columns(line_links: dict[str, str]) -> list[str]:
    """The order line columns the JSON rows carry when ``line_links`` fills the others."""
    return [c for c in _LINE if c not in line_links]


#: Taking places, the lines' capacity row is the one the statement updated.
_TAKING_LINE_LINKS = {"capacity_id": "(SELECT id FROM taken)"}
_TAKING_LINE = _line_columns(_TAKING_LINE_LINKS)


#: The order's rows. $2 order, $3 lines, $4 tickets, $5 holders, $6 payments (0 or 1),
#: $7 payment events, $8 consents (JSON), $9 customer id for the first purchase, $10 now.
#: ``guard`` says whether to write; ``line_links`` fills columns of the lines.
def _order_rows(guard: str, line_links: dict[str, str]) -> str:
    line_columns = _line_columns(line_links)
    return f"""
new_order AS (
  {_insert("orders", _ORDER, {}, "jsonb_populate_record(NULL::orders, $2::jsonb) r")}
  WHERE {guard}
  RETURNING id
), line_rows AS MATERIALIZED (
  SELECT e.n AS line_no, e.j, nextval(pg_get_serial_sequence('order_line', 'id')) AS id
  FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS e(j, n)
  WHERE EXISTS (SELECT FROM new_order)
), new_lines AS (
  {_insert("order_line", line_columns, {"id": "l.id", "order_id": "o.id", **line_links}, "line_rows l CROSS JOIN new_order o CROSS JOIN LATERAL jsonb_populate_record(NULL::order_line, l.j) r")}
), ticket_rows AS MATERIALIZED (
  SELECT e.n AS ticket_no, (e.j->>'line_no')::bigint AS line_no, e.j,
         nextval(pg_get_serial_sequence('ticket', 'id')) AS id
  FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS e(j, n)
  WHERE EXISTS (SELECT FROM new_order)
), new_tickets AS (
  {_insert("ticket", _TICKET, {"id": "t.id", "order_id": "o.id", "order_line_id": "l.id"}, "ticket_rows t JOIN line_rows l USING (line_no) CROSS JOIN new_order o CROSS JOIN LATERAL jsonb_populate_record(NULL::ticket, t.j) r")}
), new_holders AS (
  {_insert("pass_holder", _HOLDER, {"order_id": "o.id", "order_line_id": "l.id", "ticket_id": "t.id"}, "jsonb_array_elements($5::jsonb) AS e(j) CROSS JOIN new_order o JOIN line_rows l ON l.line_no = (e.j->>'line_no')::bigint LEFT JOIN ticket_rows t ON t.ticket_no = (e.j->>'ticket_no')::bigint CROSS JOIN LATERAL jsonb_populate_record(NULL::pass_holder, e.j) r")}
), new_payment AS (
  {_insert("payment", _PAYMENT, {"order_id": "o.id"}, "new_order o CROSS JOIN jsonb_populate_recordset(NULL::payment, $6::jsonb) r")}
  RETURNING id
), new_payment_event AS (
  {_insert("payment_event", _EVENT, {"payment_id": "p.id"}, "new_payment p CROSS JOIN jsonb_populate_recordset(NULL::payment_event, $7::jsonb) r")}
), new_consents AS (
  {_insert("consent_record", _CONSENT, {"order_id": "o.id"}, "new_order o CROSS JOIN jsonb_populate_recordset(NULL::consent_record, $8::jsonb) r")}
), first_purchase AS (
  UPDATE customer SET first_purchase_at = $10, updated_at = $10,
    export_seq = {POSTGRESQL_EXPORT_SEQ}
  WHERE id = $9 AND first_purchase_at IS NULL AND EXISTS (SELECT FROM new_order)
)
SELECT (SELECT id FROM new_order) AS order_id,
       ARRAY(SELECT id FROM line_rows ORDER BY line_no) AS line_ids,
       ARRAY(SELECT id FROM ticket_rows ORDER BY ticket_no) AS ticket_ids,
       (SELECT id FROM new_payment) AS payment_id,
       CASE WHEN EXISTS (SELECT FROM new_order) THEN {POSTGRESQL_EXPORT_SEQ} END AS export_seq"""


#: Consume the receipts ($1) and write the order, only if every receipt was still there.
SQL = f"""
WITH locked AS (
  SELECT id FROM capacity_reservation WHERE id = ANY($1::bigint[]) FOR UPDATE
), consumed AS (
  DELETE FROM capacity_reservation
  WHERE id IN (SELECT id FROM locked)
    AND (SELECT count(*) FROM locked) = cardinality($1::bigint[])
  RETURNING id
), {_order_rows("(SELECT count(*) FROM consumed) = cardinality($1::bigint[])", {})}
"""

#: Sell $1 places of ONE capacity row (facility $11, product $12, date $13, slot $14)
#: with the conditional UPDATE and write the order, only if the places were taken.
#: Also says whether the row exists, so a full row is told from a missing one, and
#: whether an order with the idempotency key $15 exists, so a refusal needs no lookup.
TAKING_SQL = f"""
WITH taken AS (
  UPDATE capacity SET sold = sold + $1, updated_at = $10
  WHERE facility_id = $11 AND product_id = $12 AND date = $13 AND slot = $14
    AND sold + held + $1 <= capacity
  RETURNING id
), {_order_rows("EXISTS (SELECT FROM taken)", _TAKING_LINE_LINKS)},
       (SELECT id FROM taken) AS capacity_id,
       EXISTS (SELECT FROM capacity WHERE facility_id = $11 AND product_id = $12
               AND date = $13 AND slot = $14) AS row_exists,
       EXISTS (SELECT FROM orders WHERE facility_id = $11 AND idempotency_key = $15)
         AS key_taken
"""


def _encode(value: Any) -> Any:
    """JSON for a column value as PostgreSQL's input functions read it."""
    if isinstance(value, bytes):
        return "\\x" + value.hex()  # bytea's hex input format
    return value


def _row(instance: Base, columns: list[str], **extra: Any) -> dict[str, Any]:
    """The instance's column values, its Python-side defaults filled in as a flush would
    (set on the instance too, so the object handed back is complete)."""
    table = instance.__table__
    state = instance.__dict__
    row: dict[str, Any] = {}
    for name in columns:
        if name not in state:
            default = table.columns[name].default
            value = None
            if default is not None:
                value = default.arg(None) if default.is_callable else default.arg
            setattr(instance, name, value)
        row[name] = _encode(getattr(instance, name))
    row.update(extra)
    return row


_encoder = msgspec.json.Encoder()


def _json(rows: Any) -> str:
    return _encoder.encode(rows).decode()


def _order_arguments(sale: Sale, line_columns: list[str]) -> tuple[Any, ...]:
    """$2 to $10 of both statements."""
    return (
        _json(_row(sale.order, _ORDER)),
        _json([_row(line, line_columns) for line in sale.lines]),
        _json([_row(t, _TICKET, line_no=i + 1) for i, t in sale.tickets]),
        _json(
            [
                _row(h, _HOLDER, line_no=i + 1, ticket_no=None if t is None else t + 1)
                for i, t, h in sale.holders
            ]
        ),
        _json([_row(sale.payment, _PAYMENT)] if sale.payment else []),
        _json([_row(sale.payment_event, _EVENT)] if sale.payment_event else []),
        _json([_row(c, _CONSENT) for c in sale.consents]),
        sale.first_purchase_customer_id,
        sale.now,
    )


async def _run(connection: AsyncConnection, sql: str, *arguments: Any) -> Any:
    driver = await driver_connection(connection)
    try:
        return await driver.fetchrow(sql, *arguments)
    except asyncpg.IntegrityConstraintViolationError as exc:
        # The same error the ORM writer raises, so place_order has one replay handler.
        raise IntegrityError(sql, None, exc) from exc


async def write_order(
    connection: AsyncConnection,
    session: AsyncSession,
    sale: Sale,
    receipt_ids: Sequence[int],
    announce: outbox.Announcement | None = None,
) -> bool:
    """Write ``sale`` and consume the receipts in one autocommitted statement; False
    (nothing written) when a receipt was gone. On success the order, its lines and
    tickets become persistent objects of ``session``, as if a flush had written them.

    With ``announce`` (someone receives the sale's webhooks) the statement and the
    events' insert share one transaction instead: BEGIN, the insert and COMMIT are three
    more round trips, paid only then."""
    arguments = (list(receipt_ids), *_order_arguments(sale, _LINE))
    if announce is None:
        return _attached(session, sale, await _run(connection, SQL, *arguments))
    driver = await driver_connection(connection)
    async with driver.transaction():
        if not _attached(session, sale, await _run(connection, SQL, *arguments)):
            return False
        await outbox.write_on_driver(driver, announce())
    return True


def _attached(session: AsyncSession, sale: Sale, written: Any) -> bool:
    """Whether the statement wrote the order; if so, its objects are in the session."""
    if written["order_id"] is None:
        return False
    _attach(session, sale, written)
    return True


class Taken(enum.Enum):
    """What :func:`take_and_write_order` did."""

    WRITTEN = "written"  # places sold and the order written
    FULL = "full"  # the capacity row had not enough places: nothing written
    FULL_FIRST_TRY = "full, first try"  # ... and no order has the idempotency key
    NO_ROW = "no row"  # no capacity row yet: nothing written


async def take_and_write_order(
    connection: AsyncConnection,
    session: AsyncSession,
    sale: Sale,
    facility_id: int,
    want: reservations.Want,
) -> Taken:
    """Sell the places of ``want`` (every line of ``sale``) and write the order, in ONE
    autocommitted statement: a paid sale of one capacity row without a receipt. The
    row's lock lives only inside the server, from the UPDATE to this statement's commit,
    as with the reservation statement; and one commit per order instead of two."""
    written = await _run(
        connection,
        TAKING_SQL,
        want.quantity,
        *_order_arguments(sale, _TAKING_LINE),
        facility_id,
        want.product.id,
        want.date,
        want.slot,
        sale.order.idempotency_key,
    )
    if written["order_id"] is None:
        if not written["row_exists"]:
            return Taken.NO_ROW
        # As of the statement's start, which is after any other sale with this key has
        # committed or failed: placement holds the key's lock around it (key_lock).
        return Taken.FULL if written["key_taken"] else Taken.FULL_FIRST_TRY
    for line in sale.lines:
        line.capacity_id = written["capacity_id"]
    _attach(session, sale, written)
    return Taken.WRITTEN


def _attach(session: AsyncSession, sale: Sale, written: Any) -> None:
    """Make the written objects persistent in the session, without reading them back."""
    order_id, line_ids, ticket_ids = written["order_id"], written["line_ids"], written["ticket_ids"]
    order = sale.order
    order.id = order_id
    for line, line_id in zip(sale.lines, line_ids, strict=True):
        line.id, line.order_id = line_id, order_id
    for (line_index, ticket), ticket_id in zip(sale.tickets, ticket_ids, strict=True):
        ticket.id, ticket.order_id = ticket_id, order_id
        ticket.order_line_id = sale.lines[line_index].id
    for row in (order, *sale.lines, *(t for _, t in sale.tickets), sale.payment):
        if row is not None:
            row.export_seq = written["export_seq"]
    # Relationships as a load sets them: assigning would fire the collection and
    # backref events of a change, which is a tenth of a sale's CPU for nothing.
    set_committed_value(order, "lines", list(sale.lines))
    set_committed_value(order, "tickets", [ticket for _, ticket in sale.tickets])
    for line in sale.lines:
        set_committed_value(line, "order", order)
    for instance in (order, *order.lines, *order.tickets):
        make_transient_to_detached(instance)
    session.add(order)
