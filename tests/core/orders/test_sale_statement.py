"""PostgreSQL: the one-statement order writer (``orders.sale_statement.write_order``)
writes exactly the rows the ORM writer (``orders.writer.write_with_orm``) writes.

Each order is placed twice from the same request, once per writer, and every row of
orders, order_line, ticket, pass_holder, payment, payment_event, consent_record and the
customer is compared column by column. Only what must differ is normalised: own ids
become positions (a ticket names its line's position, a holder its ticket's), codes,
access and idempotency keys are dropped, and timestamps become their offset from the
sale's moment (created_at/updated_at: just "set", aware and recent). Also checked: the
capacity taken, the returned Order objects and the kiosk presenter, replays of an
idempotency key, and receipts swept before the write.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from core_service.catalog import reservations
from core_service.catalog.rules import Holder
from core_service.demo.data import DemoFacility
from core_service.models import (
    Capacity,
    CapacityReservation,
    ConsentRecord,
    Customer,
    Device,
    Order,
    OrderLine,
    Payment,
    PaymentEvent,
    Product,
    Ticket,
    utcnow,
)
from core_service.models.catalog import PassHolder
from core_service.orders import placement, presenters, sale_statement, writer
from core_service.orders.requests import CheckoutRequest, ImmediatePayment, LineRequest
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.errors import Conflict, SoldOut
from core_service.platform.settings import Settings
from core_service.platform.tenancy import load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager

pytestmark = pytest.mark.postgres

HOST = PluginHost(build_plugin_manager())
VISIT = dt.date.today() + dt.timedelta(days=5)
HOLD_MINUTES = 15
# A PNG header and every byte value (NUL, backslash, ...): bytea must survive JSON.
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
ORDER_TABLES = (Order, OrderLine, Ticket, PassHolder, Payment, PaymentEvent, ConsentRecord)
#: Per scenario: the (order lines, pass holders, tickets, customers) it writes.
SCENARIOS = {
    "kiosk_timed": (2, 0, 3, 0),
    "web_pending": (3, 1, 0, 1),
    "annual_pass": (2, 3, 3, 0),
    "tear_off": (1, 0, 20, 0),  # 2 books of 10 coupons
    "first": (2, 0, 2, 1),
}
#: Columns that must differ between two orders, or link to the order's own rows.
DROPPED = {"id", "code", "access_key", "idempotency_key", "email", "pseudonym"}
OWN_LINKS = {"order_id", "order_line_id", "ticket_id", "payment_id", "customer_id"}


@pytest.fixture
def db_settings(postgres_settings: Settings) -> Settings:
    """PostgreSQL only: the one-statement writer is the PostgreSQL path."""
    return postgres_settings


@pytest.fixture
async def engine(db_settings: Settings, demo: DemoFacility) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_settings)
    async with engine.begin() as conn:  # a kiosk sells zip-line slots; books tear off
        timed = sa.update(Product).where(Product.id == demo.timed_ticket_id)
        await conn.execute(timed.values(channels=["web", "kiosk"]))
        book = sa.update(Product).where(Product.id == demo.coupon_book_id)
        await conn.execute(book.values(coupon_tear_off=True))
    yield engine
    await engine.dispose()


async def _request(engine: AsyncEngine, demo: DemoFacility, name: str, run: str) -> CheckoutRequest:
    """The scenario's checkout; ``run`` keeps keys and customers of the two runs apart."""
    async with engine.connect() as conn:
        kiosk = await conn.scalar(sa.select(Device.id).where(Device.kind == "kiosk"))
    slot, on_kiosk = demo.timed_slots[1], {"channel": "kiosk", "device_id": kiosk}
    passes = (
        Holder("山田花子", dt.date(1990, 4, 1), PHOTO, "image/png"),
        Holder(' Ken "K" \\ Yamada ', dt.date(1988, 1, 2)),
    )
    scenarios: dict[str, dict[str, Any]] = {
        "kiosk_timed": on_kiosk
        | {
            "lines": [
                LineRequest(demo.timed_adult_category_id, 2, VISIT, slot),
                LineRequest(demo.timed_child_category_id, 1, VISIT, slot),
            ],
            "payment": ImmediatePayment("kiosk_terminal", "card", "ref-a", 2 * 1500 + 1000),
        },
        "web_pending": {  # with a pass holder who gets a ticket only on payment
            "locale": "en",
            "customer_email": f"pending-{run}@example.com",
            "customer_name": "Hanako Yamada",
            "marketing_opt_in": True,
            "lines": [
                LineRequest(demo.adult_category_id, 2, VISIT),
                LineRequest(demo.child_category_id, 1, VISIT),
                LineRequest(demo.pass_adult_category_id, 1, None, "", (Holder("Ken", VISIT),)),
            ],
        },
        "annual_pass": {
            "lines": [
                LineRequest(demo.pass_adult_category_id, 2, None, "", passes),
                LineRequest(demo.pass_child_category_id, 1, None, "", (Holder("太郎", VISIT),)),
            ],
            "payment": ImmediatePayment("demo", "card", "ref-c", 2 * 12000 + 6000),
        },
        "tear_off": on_kiosk
        | {
            "lines": [LineRequest(demo.coupon_category_id, 2)],
            "payment": ImmediatePayment("kiosk_terminal", "qr", "ref-d", 2 * 3000),
        },
        "first": {  # a new customer's paid order; parking has a handling fee
            "customer_email": f"first-{run}@example.com",
            "lines": [
                LineRequest(demo.adult_category_id, 1, VISIT),
                LineRequest(demo.parking_category_id, 1, VISIT),
            ],
            "payment": ImmediatePayment("demo", "paypay", "ref-e", 2000 + 1000 + 100),
        },
    }
    return CheckoutRequest(
        **{"channel": "web", "answers": {"consent_waiver": True}} | scenarios[name],
        idempotency_key=f"{name}-{run}",
    )


async def _orm_write(
    connection: Any, session: Any, sale: Any, receipts: Any, announce: Any = None
) -> bool:
    """The SQLite writer, forced on PostgreSQL as the reference."""
    return await writer.write_with_orm(session, sale, receipts, announce)


def _recording(outcomes: list[sale_statement.Taken]) -> Any:
    """take_and_write_order, noting each outcome in ``outcomes``."""
    take_and_write = sale_statement.take_and_write_order

    async def recorded(*args: Any) -> sale_statement.Taken:
        outcomes.append(await take_and_write(*args))
        return outcomes[-1]

    return recorded


async def _not_in_one_statement(*_args: Any) -> bool:
    """The reference run never takes the one-statement path."""
    return False


async def _rows(conn: Any, model: Any, *where: Any) -> list[dict[str, Any]]:
    query = sa.select(model.__table__).where(*where).order_by(model.__table__.c.id)
    return [dict(row._mapping) for row in await conn.execute(query)]


async def _snapshot(engine: AsyncEngine, order_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every row the order wrote, as read back from the database."""
    async with engine.connect() as conn:
        orders = await _rows(conn, Order, Order.id == order_id)
        payments = await _rows(conn, Payment, Payment.order_id == order_id)
        rows = {
            "orders": orders,
            "order_line": await _rows(conn, OrderLine, OrderLine.order_id == order_id),
            "ticket": await _rows(conn, Ticket, Ticket.order_id == order_id),
            "pass_holder": await _rows(conn, PassHolder, PassHolder.order_id == order_id),
            "payment": payments,
            "payment_event": await _rows(
                conn, PaymentEvent, PaymentEvent.payment_id.in_([p["id"] for p in payments])
            ),
            "consent_record": await _rows(conn, ConsentRecord, ConsentRecord.order_id == order_id),
            "customer": await _rows(conn, Customer, Customer.id == orders[0]["customer_id"]),
        }
    rows["pass_holder"].sort(key=lambda h: (h["order_line_id"], h["position"]))
    return rows


def _normalised(snapshot: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The snapshot without what must differ between two orders; links as positions."""
    (order,) = snapshot["orders"]
    own = {
        "order_id": {order["id"]: "order"},
        "order_line_id": {r["id"]: i for i, r in enumerate(snapshot["order_line"])},
        "ticket_id": {r["id"]: i for i, r in enumerate(snapshot["ticket"])},
        "payment_id": {r["id"]: i for i, r in enumerate(snapshot["payment"])},
        "customer_id": {r["id"]: "customer" for r in snapshot["customer"]},
    }
    # The sale's moment: paid_at, accepted_at, at and first_purchase_at are exactly it.
    moment = order["paid_at"] or order["hold_expires_at"] - dt.timedelta(minutes=HOLD_MINUTES)
    result: dict[str, list[dict[str, Any]]] = {}
    for table, rows in snapshot.items():
        result[table] = []
        for row in rows:
            out: dict[str, Any] = {}
            for column, value in row.items():
                if column in DROPPED:
                    continue
                if column in OWN_LINKS and value is not None:
                    value = own[column].get(value, f"foreign {value}")
                elif column == "export_seq":
                    # The writing transaction's id: differs between the two writers' runs.
                    assert value > 0, (table, column)
                    value = "set"
                elif isinstance(value, dt.datetime):
                    assert value.tzinfo is not None, (table, column)
                    assert abs(value - utcnow()) < dt.timedelta(minutes=HOLD_MINUTES + 2)
                    if column in ("created_at", "updated_at"):
                        value = "set" if abs(value - utcnow()) < dt.timedelta(minutes=2) else value
                    else:
                        value = value - moment
                out[column] = value
            result[table].append(out)
    return result


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            model.__tablename__: await conn.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (*ORDER_TABLES, CapacityReservation)
        }


async def _capacity(engine: AsyncEngine) -> dict[int, tuple[int, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(Capacity.id, Capacity.sold, Capacity.held))
        return {row.id: (row.sold, row.held) for row in rows}


def _taken(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> dict:
    """Places taken per capacity row: (sold, held) deltas, rows that changed only."""
    deltas = {}
    for capacity_id, (sold, held) in after.items():
        old_sold, old_held = before.get(capacity_id, (0, 0))
        if (sold - old_sold, held - old_held) != (0, 0):
            deltas[capacity_id] = (sold - old_sold, held - old_held)
    return deltas


async def _place(
    engine: AsyncEngine,
    demo: DemoFacility,
    request: CheckoutRequest,
    secret_key: str,
    *,
    statement: bool,
) -> dict:
    """Place the order; what its returned Order objects and the presenters show."""
    async with make_sessionmaker(engine)() as session:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        order, created = await placement.place_order(
            session, tenant, request, hold_minutes=HOLD_MINUTES
        )
        assert created
        # Nothing left for a later flush to write; the statement's objects are complete
        # (the ORM expires columns it did not send, e.g. cancelled_at).
        assert not session.new and not session.dirty
        for instance in (order, *order.lines, *order.tickets) if statement else ():
            assert not sa.inspect(instance).unloaded, instance
        lines = await session.scalars(sa.select(OrderLine.id).where(OrderLine.order_id == order.id))
        tickets = await session.execute(
            sa.select(Ticket.id, Ticket.order_line_id).where(Ticket.order_id == order.id)
        )
        assert [line.id for line in order.lines] == sorted(lines)
        assert [(t.id, t.order_line_id) for t in order.tickets] == sorted(map(tuple, tickets))
        shown = await presenters.tickets_out(session, tenant.facility, order, secret_key)
        assert [t.id for t in shown] == [t.id for t in order.tickets]
        position = {t.id: i for i, t in enumerate(order.tickets)}
        summary = await presenters.order_out(session, order)
        await session.commit()  # would write anything the writer left pending
    return {
        "order_id": order.id,
        "tickets": [
            {
                **msgspec.structs.asdict(t),
                "id": position[t.id],
                "qr_token": bool(t.qr_token),
                "book_id": position.get(t.book_id),
            }
            for t in shown
        ],
        "order": {**msgspec.structs.asdict(summary), "code": "", "created_at": 0, "paid_at": 0},
    }


async def _replay(
    engine: AsyncEngine, demo: DemoFacility, request: CheckoutRequest, order_id: int, tickets: int
) -> None:
    """The same idempotency key again: the first order, created=False, nothing written."""
    counts, capacity = await _counts(engine), await _capacity(engine)
    async with make_sessionmaker(engine)() as session:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        again, created = await placement.place_order(
            session, tenant, request, hold_minutes=HOLD_MINUTES
        )
        assert (again.id, created, len(again.tickets)) == (order_id, False, tickets)
    assert (await _counts(engine), await _capacity(engine)) == (counts, capacity)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_both_writers_write_the_same_rows(
    engine: AsyncEngine,
    db_settings: Settings,
    demo: DemoFacility,
    monkeypatch: pytest.MonkeyPatch,
    scenario: str,
) -> None:
    rows, taken, shown = {}, {}, {}
    one_statement: list[sale_statement.Taken] = []
    recorded = _recording(one_statement)
    # The ORM run first: it creates the capacity rows, so a kiosk sale of one slot then
    # takes the one-statement path (take_and_write_order), which needs the row.
    for run in ("orm", "statement"):
        request = await _request(engine, demo, scenario, run)
        before = await _capacity(engine)
        with monkeypatch.context() as patch:
            if run == "orm":
                patch.setattr(placement, "write_sale", _orm_write)
                patch.setattr(placement, "_sell_in_one_statement", _not_in_one_statement)
            else:
                patch.setattr(sale_statement, "take_and_write_order", recorded)
            shown[run] = await _place(
                engine, demo, request, db_settings.secret_key, statement=run == "statement"
            )
        taken[run] = _taken(before, await _capacity(engine))
        rows[run] = await _snapshot(engine, shown[run]["order_id"])
        assert (await _counts(engine))["capacity_reservation"] == 0
        if run == "statement":
            await _replay(engine, demo, request, shown[run]["order_id"], SCENARIOS[scenario][2])

    # One product, date and slot, paid at once: the onsale case; the rest use receipts.
    assert one_statement == ([sale_statement.Taken.WRITTEN] if scenario == "kiosk_timed" else [])
    statement, orm = _normalised(rows["statement"]), _normalised(rows["orm"])
    for table in orm:
        assert statement[table] == orm[table], table
    assert taken["statement"] == taken["orm"]
    assert shown["statement"]["tickets"] == shown["orm"]["tickets"]
    assert shown["statement"]["order"] == shown["orm"]["order"]

    # And the reference itself is what the scenario means.
    (order,) = orm["orders"]
    paid = order["status"] == "paid"
    tables = ("order_line", "pass_holder", "ticket", "customer")
    assert tuple(len(orm[table]) for table in tables) == SCENARIOS[scenario]
    assert len(orm["consent_record"]) == 1
    assert len(orm["payment"]) == len(orm["payment_event"]) == int(paid)
    assert all((h["ticket_id"] is not None) == paid for h in orm["pass_holder"])
    for customer in orm["customer"]:
        assert customer["first_purchase_at"] == (dt.timedelta(0) if paid else None)
    places = sum(line["quantity"] for line in orm["order_line"] if line["capacity_id"])
    sold = sum(sold for sold, _ in taken["orm"].values())
    held = sum(held for _, held in taken["orm"].values())
    assert (sold, held) == ((places, 0) if paid else (0, places))


@pytest.mark.parametrize("swept", ["all", "one"])
async def test_a_swept_receipt_writes_nothing_and_gives_the_places_back(
    engine: AsyncEngine, demo: DemoFacility, monkeypatch: pytest.MonkeyPatch, swept: str
) -> None:
    write_order = writer.sale_statement.write_order
    counts = await _counts(engine)

    async def after_a_sweep(
        connection: Any, session: Any, sale: Any, receipt_ids: Any, announce: Any = None
    ) -> bool:
        assert len(receipt_ids) == 2  # day ticket and parking
        if swept == "all":  # the request stalled; the sweeper ran meanwhile
            later = utcnow() + reservations.RESERVATION_TTL + dt.timedelta(seconds=1)
            assert await reservations.sweep(engine, later) == 2
        else:  # only one receipt gone: the other must not be consumed either
            gone = reservations.Reservation(receipt_ids[0], 0, 0, reservations.SOLD)
            await reservations.release(engine, [gone])
        written = await write_order(connection, session, sale, receipt_ids, announce)
        assert written is False
        left = await _counts(engine)
        assert left == {**counts, "capacity_reservation": 0 if swept == "all" else 1}
        return written

    monkeypatch.setattr(writer.sale_statement, "write_order", after_a_sweep)
    request = await _request(engine, demo, "first", "swept")
    async with make_sessionmaker(engine)() as session:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        with pytest.raises(Conflict):
            await placement.place_order(session, tenant, request, hold_minutes=HOLD_MINUTES)
    assert await _counts(engine) == counts
    assert set((await _capacity(engine)).values()) == {(0, 0)}  # both rows, given back
    async with engine.connect() as conn:
        first = sa.select(Customer.first_purchase_at).where(
            Customer.email == request.customer_email
        )
        assert await conn.scalar(first) is None


async def _kiosk_sale(engine: AsyncEngine, demo: DemoFacility, quantity: int) -> Any:
    """A paid kiosk sale of ``quantity`` places of one slot on VISIT."""
    request = await _request(engine, demo, "kiosk_timed", f"one-{quantity}")
    line = request.lines[0]
    one_slot = [LineRequest(line.price_category_id, quantity, line.visit_date, line.slot)]
    request = dataclasses.replace(
        request,
        lines=one_slot,
        payment=dataclasses.replace(request.payment, amount=1500 * quantity),
    )
    async with make_sessionmaker(engine)() as session:
        tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
        order, _ = await placement.place_order(session, tenant, request, hold_minutes=HOLD_MINUTES)
        return order


async def test_one_statement_sale_of_a_full_row_writes_nothing(
    engine: AsyncEngine, demo: DemoFacility, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes: list[sale_statement.Taken] = []
    monkeypatch.setattr(sale_statement, "take_and_write_order", _recording(outcomes))
    first = await _kiosk_sale(engine, demo, 1)  # no row yet: made via a receipt
    assert outcomes == [sale_statement.Taken.NO_ROW]
    async with engine.begin() as conn:  # leave exactly 2 places
        await conn.execute(
            sa.update(Capacity)
            .where(Capacity.id == first.lines[0].capacity_id)
            .values(sold=Capacity.capacity - 2)
        )
    counts, capacity = await _counts(engine), await _capacity(engine)
    with pytest.raises(SoldOut):
        await _kiosk_sale(engine, demo, 3)
    assert outcomes[-1] is sale_statement.Taken.FULL_FIRST_TRY  # no replay lookup
    assert (await _counts(engine), await _capacity(engine)) == (counts, capacity)
    second = await _kiosk_sale(engine, demo, 2)  # the last two places
    assert outcomes[-1] is sale_statement.Taken.WRITTEN
    # Its replay, now that the slot is full, is the same order, not "sold out".
    replay = await _kiosk_sale(engine, demo, 2)
    assert outcomes[-1] is sale_statement.Taken.FULL
    assert replay.id == second.id
    assert second.lines[0].capacity_id == first.lines[0].capacity_id
    assert len(second.tickets) == 2
    sold, held = (await _capacity(engine))[first.lines[0].capacity_id]
    async with engine.connect() as conn:
        full = await conn.scalar(
            sa.select(Capacity.capacity).where(Capacity.id == first.lines[0].capacity_id)
        )
    assert (sold, held) == (full, 0)
    assert (await _counts(engine))["capacity_reservation"] == 0
