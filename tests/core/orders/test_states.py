"""Every transition of the order, ticket, payment, refund and transfer state machines:
it moves from the states it allows and from no other, a repeat changes nothing, another
facility's row is never moved, and each payment move records exactly one event.

Each test puts one row through every state of its machine (a direct UPDATE, as the
database might hold it) and calls one transition. SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.aftersales import states as aftersales_states
from core_service.demo.data import DemoFacility
from core_service.models import (
    Base,
    Cancellation,
    Order,
    Payment,
    PaymentEvent,
    Refund,
    Ticket,
    TicketTransfer,
    utcnow,
)
from core_service.orders import states as order_states
from core_service.orders.placement import place_order
from core_service.orders.requests import CheckoutRequest, LineRequest
from core_service.payments import states as payment_states
from core_service.payments.service import merge_provider_data
from core_service.payments.transitions import confirm_payment, create_payment
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.errors import Conflict
from core_service.platform.settings import Settings
from core_service.platform.tenancy import load_tenant
from core_service.plugins.host import PluginHost, build_plugin_manager
from kippu_contract.states import (
    OrderStatus,
    PaymentState,
    RefundState,
    TicketStatus,
    TransferState,
)

HOST = PluginHost(build_plugin_manager())
NOW = utcnow()
Cause = payment_states.RefundDueCause
Move = Callable[[AsyncSession, int, int], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Rows:
    """One row of each machine, all of the demo facility."""

    facility_id: int
    order_id: int
    ticket_id: int
    payment_id: int
    refund_id: int
    transfer_id: int


@pytest.fixture
async def session(db_settings: Settings, demo: DemoFacility) -> AsyncIterator[AsyncSession]:
    engine = make_engine(db_settings)
    try:
        async with make_sessionmaker(engine)() as db:
            yield db
    finally:
        await engine.dispose()


@pytest.fixture
async def rows(session: AsyncSession, demo: DemoFacility) -> Rows:
    """A paid web order of one ticket, its payment, a refund and a transfer of the ticket."""
    tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
    order, _ = await place_order(
        session,
        tenant,
        CheckoutRequest(
            channel="web",
            lines=[LineRequest(demo.adult_category_id, 1, dt.date.today() + dt.timedelta(days=3))],
            answers={"consent_waiver": True},
        ),
        hold_minutes=15,
    )
    payment = await create_payment(session, tenant, order, "demo", "card")
    paid, _ = await confirm_payment(session, tenant, payment.id, "ref")
    (ticket,) = paid.tickets
    cancellation = Cancellation(
        facility_id=tenant.id,
        order_id=order.id,
        actor="staff:1",
        ticket_ids=[ticket.id],
        idempotency_key="c",
    )
    session.add(cancellation)
    await session.flush()
    refund = Refund(
        facility_id=tenant.id,
        order_id=order.id,
        cancellation_id=cancellation.id,
        payment_id=payment.id,
        provider="demo",
        amount=100,
        idempotency_key="r",
    )
    transfer = TicketTransfer(
        facility_id=tenant.id, order_id=order.id, ticket_id=ticket.id, claim_key="claim"
    )
    session.add_all([refund, transfer])
    await session.commit()
    return Rows(tenant.id, order.id, ticket.id, payment.id, refund.id, transfer.id)


async def _force(session: AsyncSession, model: type[Base], row_id: int, **values: Any) -> None:
    await session.execute(sa.update(model).where(model.id == row_id).values(**values))
    await session.commit()


async def _state(session: AsyncSession, model: type[Base], row_id: int, column: str) -> StrEnum:
    value: StrEnum = await session.scalar(
        sa.select(getattr(model, column)).where(model.id == row_id)
    )
    return value


async def _events(session: AsyncSession, payment_id: int) -> int:
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(PaymentEvent)
        .where(PaymentEvent.payment_id == payment_id)
    )
    return int(count or 0)


async def _check_machine(
    session: AsyncSession,
    model: type[Base],
    row_id: int,
    column: str,
    states: type[StrEnum],
    move: Callable[[], Awaitable[bool]],
    allowed: dict[Any, Any],
    *,
    reset: dict[str, Any] | None = None,
    events_of: int | None = None,
) -> None:
    """From each state, ``move`` moves exactly when ``allowed`` maps the state, to that
    target, and a second call then changes nothing."""
    for source in states:
        await _force(session, model, row_id, **{column: source}, **(reset or {}))
        events = await _events(session, events_of) if events_of is not None else 0
        moved = await move()
        await session.commit()
        target = allowed.get(source, source)
        assert (moved, await _state(session, model, row_id, column)) == (
            source in allowed,
            target,
        ), f"from {source}"
        if events_of is not None:
            assert await _events(session, events_of) == events + moved, f"events from {source}"
        if moved and target not in allowed:
            events = await _events(session, events_of) if events_of is not None else 0
            assert not await move(), f"repeated from {source}"
            await session.commit()
            assert await _state(session, model, row_id, column) == target
            if events_of is not None:
                assert await _events(session, events_of) == events


ORDER_MOVES: dict[str, tuple[Move, dict[OrderStatus, OrderStatus]]] = {
    "pay_order": (
        lambda s, f, i: order_states.pay_order(s, f, i, NOW),
        {OrderStatus.PENDING: OrderStatus.PAID},
    ),
    "revive_order": (
        lambda s, f, i: order_states.revive_order(s, f, i, NOW),
        {OrderStatus.EXPIRED: OrderStatus.PAID},
    ),
    "expire_order": (order_states.expire_order, {OrderStatus.PENDING: OrderStatus.EXPIRED}),
    "cancel_order": (
        lambda s, f, i: order_states.cancel_order(s, f, i, NOW),
        {OrderStatus.PAID: OrderStatus.CANCELLED},
    ),
}


@pytest.mark.parametrize("name", ORDER_MOVES)
async def test_an_order_transition_moves_only_from_its_state(
    session: AsyncSession, rows: Rows, name: str
) -> None:
    move, allowed = ORDER_MOVES[name]
    await _check_machine(
        session,
        Order,
        rows.order_id,
        "status",
        OrderStatus,
        lambda: move(session, rows.facility_id, rows.order_id),
        allowed,
    )


async def test_only_a_pending_order_has_its_hold_moved(session: AsyncSession, rows: Rows) -> None:
    later = NOW + dt.timedelta(hours=1)
    for status in OrderStatus:
        await _force(session, Order, rows.order_id, status=status, hold_expires_at=NOW)
        moved = await order_states.hold_until(session, rows.facility_id, rows.order_id, later)
        await session.commit()
        assert moved == (status == OrderStatus.PENDING), status
    await _force(session, Order, rows.order_id, status=OrderStatus.PENDING, hold_expires_at=NOW)
    assert not await order_states.hold_until(
        session, rows.facility_id, rows.order_id, later, only_shorten=True
    )


async def test_a_ticket_is_cancelled_only_while_valid_and_unused(
    session: AsyncSession, rows: Rows
) -> None:
    await _check_machine(
        session,
        Ticket,
        rows.ticket_id,
        "status",
        TicketStatus,
        lambda: order_states.cancel_ticket(session, rows.facility_id, rows.ticket_id),
        {TicketStatus.VALID: TicketStatus.CANCELLED},
        reset={"uses_total": 1, "uses_left": 1},
    )
    # A coupon book used once stays sold.
    await _force(session, Ticket, rows.ticket_id, status="valid", uses_total=3, uses_left=2)
    assert not await order_states.cancel_ticket(session, rows.facility_id, rows.ticket_id)


async def test_a_ticket_is_used_only_while_valid_and_its_last_use_makes_it_used(
    session: AsyncSession, rows: Rows
) -> None:
    await _check_machine(
        session,
        Ticket,
        rows.ticket_id,
        "status",
        TicketStatus,
        lambda: order_states.use_ticket(session, rows.facility_id, rows.ticket_id, NOW),
        {TicketStatus.VALID: TicketStatus.USED},
        reset={"uses_total": 1, "uses_left": 1},
    )
    await _force(session, Ticket, rows.ticket_id, status="valid", uses_total=3, uses_left=3)
    assert await order_states.use_ticket(session, rows.facility_id, rows.ticket_id, NOW)
    await session.commit()
    ticket = await session.get(Ticket, rows.ticket_id, populate_existing=True)
    assert ticket is not None and (ticket.status, ticket.uses_left) == (TicketStatus.VALID, 2)


PAYMENT_MOVES: dict[str, tuple[Move, dict[PaymentState, PaymentState]]] = {
    "pay": (
        lambda s, f, i: payment_states.pay(s, f, i, "ref", order_from=OrderStatus.PENDING),
        {PaymentState.PENDING: PaymentState.PAID},
    ),
    "owe_back from pending": (
        lambda s, f, i: payment_states.owe_back(
            s, f, i, "ref", source=PaymentState.PENDING, cause=Cause.SOLD_OUT
        ),
        {PaymentState.PENDING: PaymentState.REFUND_DUE},
    ),
    "owe_back from failed": (
        lambda s, f, i: payment_states.owe_back(
            s, f, i, "ref", source=PaymentState.FAILED, cause=Cause.PAID_AFTER_FAILURE
        ),
        {PaymentState.FAILED: PaymentState.REFUND_DUE},
    ),
    "fail": (
        lambda s, f, i: payment_states.fail(s, f, i, "declined"),
        {PaymentState.PENDING: PaymentState.FAILED},
    ),
    "claim_refund": (
        lambda s, f, i: payment_states.claim_refund(s, f, i, utcnow()),
        {PaymentState.REFUND_DUE: PaymentState.REFUNDING},
    ),
    "refunded": (
        lambda s, f, i: payment_states.refunded(s, f, i, "re_1", "refunded"),
        {PaymentState.REFUNDING: PaymentState.REFUNDED},
    ),
    "refund_failed": (
        lambda s, f, i: payment_states.refund_failed(s, f, i, "unreachable"),
        {PaymentState.REFUNDING: PaymentState.REFUND_DUE},
    ),
}


@pytest.mark.parametrize("name", PAYMENT_MOVES)
async def test_a_payment_transition_moves_only_from_its_state_and_records_one_event(
    session: AsyncSession, rows: Rows, name: str
) -> None:
    move, allowed = PAYMENT_MOVES[name]
    await _check_machine(
        session,
        Payment,
        rows.payment_id,
        "state",
        PaymentState,
        lambda: move(session, rows.facility_id, rows.payment_id),
        allowed,
        events_of=rows.payment_id,
    )


async def test_a_refund_claim_left_without_outcome_may_be_claimed_again(
    session: AsyncSession, rows: Rows
) -> None:
    long_ago = utcnow() - payment_states.STALE_REFUNDING - dt.timedelta(seconds=1)
    await _force(
        session, Payment, rows.payment_id, state=PaymentState.REFUNDING, updated_at=long_ago
    )
    events = await _events(session, rows.payment_id)
    assert await payment_states.claim_refund(session, rows.facility_id, rows.payment_id, utcnow())
    await session.commit()
    assert await _events(session, rows.payment_id) == events + 1
    # Claimed just now: the next caller leaves it to this one.
    assert not await payment_states.claim_refund(
        session, rows.facility_id, rows.payment_id, utcnow()
    )


async def test_a_payment_is_owed_back_only_from_pending_or_failed(
    session: AsyncSession, rows: Rows
) -> None:
    with pytest.raises(ValueError):
        await payment_states.owe_back(
            session,
            rows.facility_id,
            rows.payment_id,
            "ref",
            source=PaymentState.PAID,
            cause=Cause.ORDER_PAID,
        )


async def test_a_payment_attempt_is_opened_only_for_a_pending_order(
    session: AsyncSession, rows: Rows
) -> None:
    order = await session.get(Order, rows.order_id)
    assert order is not None and order.status == OrderStatus.PAID
    with pytest.raises(Conflict):
        await payment_states.open_payment(session, rows.facility_id, order, "demo", "card")


async def test_taking_a_payment_for_arrived_money_succeeds_only_while_undecided(
    session: AsyncSession, rows: Rows
) -> None:
    for state in PaymentState:
        await _force(session, Payment, rows.payment_id, state=state)
        taken = await payment_states.take_undecided(session, rows.facility_id, rows.payment_id)
        await session.commit()
        undecided = state in (PaymentState.PENDING, PaymentState.FAILED)
        assert taken == (state if undecided else None), state
        assert await _state(session, Payment, rows.payment_id, "state") == state


REFUND_MOVES: dict[str, tuple[Move, dict[RefundState, RefundState]]] = {
    "start_sending": (
        lambda s, f, i: aftersales_states.start_sending(s, f, i, utcnow()),
        {RefundState.PENDING: RefundState.SENDING, RefundState.FAILED: RefundState.SENDING},
    ),
    "sent, settled": (
        lambda s, f, i: aftersales_states.sent(s, f, i, settled=True, provider_ref="re", now=NOW),
        {RefundState.SENDING: RefundState.REFUNDED},
    ),
    "sent, settling later": (
        lambda s, f, i: aftersales_states.sent(s, f, i, settled=False, provider_ref="re", now=NOW),
        {RefundState.SENDING: RefundState.PROCESSING},
    ),
    "send_failed": (
        lambda s, f, i: aftersales_states.send_failed(s, f, i, "refused"),
        {RefundState.SENDING: RefundState.FAILED},
    ),
    "pay_out": (
        lambda s, f, i: aftersales_states.pay_out(s, f, i, NOW),
        {RefundState.OWED: RefundState.PAID_OUT},
    ),
}


@pytest.mark.parametrize("name", REFUND_MOVES)
async def test_a_refund_transition_moves_only_from_its_states(
    session: AsyncSession, rows: Rows, name: str
) -> None:
    move, allowed = REFUND_MOVES[name]
    await _check_machine(
        session,
        Refund,
        rows.refund_id,
        "state",
        RefundState,
        lambda: move(session, rows.facility_id, rows.refund_id),
        allowed,
    )


async def test_a_transfer_is_claimed_once(session: AsyncSession, rows: Rows) -> None:
    await _check_machine(
        session,
        TicketTransfer,
        rows.transfer_id,
        "state",
        TransferState,
        lambda: aftersales_states.claim_transfer(
            session, rows.facility_id, rows.transfer_id, holder_name="A", holder_key="k", now=NOW
        ),
        {TransferState.OFFERED: TransferState.CLAIMED},
        reset={"holder_key": None},
    )


async def test_no_transition_moves_a_row_of_another_facility(
    session: AsyncSession, rows: Rows
) -> None:
    other = rows.facility_id + 1000
    await _force(session, Order, rows.order_id, status=OrderStatus.PENDING)
    await _force(session, Ticket, rows.ticket_id, status=TicketStatus.VALID)
    await _force(session, Payment, rows.payment_id, state=PaymentState.PENDING)
    await _force(session, Refund, rows.refund_id, state=RefundState.PENDING)
    moves = [
        order_states.pay_order(session, other, rows.order_id, NOW),
        order_states.expire_order(session, other, rows.order_id),
        order_states.cancel_ticket(session, other, rows.ticket_id),
        order_states.use_ticket(session, other, rows.ticket_id, NOW),
        payment_states.pay(session, other, rows.payment_id, "r", order_from=OrderStatus.PENDING),
        payment_states.fail(session, other, rows.payment_id, "x"),
        aftersales_states.start_sending(session, other, rows.refund_id, NOW),
        aftersales_states.claim_transfer(
            session, other, rows.transfer_id, holder_name="A", holder_key="k", now=NOW
        ),
    ]
    assert [await move for move in moves] == [False] * len(moves)
    assert await payment_states.take_undecided(session, other, rows.payment_id) is None


async def test_a_state_column_refuses_a_value_that_is_no_state(
    session: AsyncSession, rows: Rows
) -> None:
    with pytest.raises(sa.exc.StatementError):
        await session.execute(
            sa.update(Order).where(Order.id == rows.order_id).values(status="payed")
        )
    await session.rollback()
    order = await session.get(Order, rows.order_id)
    assert order is not None and type(order.status) is OrderStatus


async def test_provider_data_is_merged_never_replaced(session: AsyncSession, rows: Rows) -> None:
    action = {"kind": "qr", "url": "u", "data": {}}
    await _force(session, Payment, rows.payment_id, data={"next_action": action, "expires_at": 1})
    await merge_provider_data(session, rows.payment_id, {"start_error": "unavailable"})
    await merge_provider_data(session, rows.payment_id, {"expires_at": 2}, drop=("start_error",))
    await session.commit()
    data = await session.scalar(sa.select(Payment.data).where(Payment.id == rows.payment_id))
    assert data == {"next_action": action, "expires_at": 2}


async def test_money_that_pays_nothing_leaves_the_provider_data_alone(
    session: AsyncSession, rows: Rows, demo: DemoFacility
) -> None:
    """The order is paid already: the second payment is owed back, its data untouched."""
    tenant = await load_tenant(session, HOST, facility_id=demo.facility_id)
    await _force(session, Order, rows.order_id, status=OrderStatus.PENDING)
    order = await session.get(Order, rows.order_id, populate_existing=True)
    assert order is not None
    late = await create_payment(session, tenant, order, "demo", "card")
    await _force(session, Order, rows.order_id, status=OrderStatus.PAID)
    await _force(session, Payment, late.id, data={"expires_at": 5})

    _, newly = await confirm_payment(session, tenant, late.id, "ref-2")

    stored = await session.get(Payment, late.id, populate_existing=True)
    assert stored is not None and not newly
    assert (stored.state, stored.data) == (PaymentState.REFUND_DUE, {"expires_at": 5})
