"""Time-based stays at the gate (F19): the entry starts the clock, the exit asks for the charge.

A ``time_stay`` ticket is good for one stay. Its admitted entry uses the ticket and writes
a :class:`~core_service.models.StayVisit` with the entry instant. Its exit prices the stay
so far (:mod:`core_service.catalog.stay_pricing`) less the charges already paid: when
nothing is due the exit admits and closes the stay; otherwise it is refused with
``payment_due`` and the amount, and the visitor pays at a kiosk or on the ticket page
(:mod:`core_service.checkin.stay_charges`).

A paid charge covers the stay up to its payment plus :data:`EXIT_GRACE`, the time to walk
to the exit; an exit after that owes the difference between the stay's price by then and
what was paid (nothing, while the stay stays within the units already paid for or the
daily cap). A charge counts as paid exactly while its order is paid.

The gate's ``_decide`` calls :func:`scan_stay` for every ``time_stay`` ticket; the
everyday fast path (:mod:`.redeem`) leaves them to it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.aftersales.receipts import yen_text
from core_service.catalog.stay_pricing import StayRate, stay_price
from core_service.models import Order, Product, StayCharge, StayVisit, Ticket, utcnow
from core_service.orders import states as order_states
from core_service.platform.database import updated_one
from core_service.platform.errors import Conflict, InvalidInput, NotFound
from core_service.platform.tenancy import Tenant
from kippu_contract.admission import ProductKind
from kippu_contract.facility_time import facility_today
from kippu_contract.states import OrderStatus, TicketStatus
from kippu_contract.tokens import KIND_TICKET, InvalidToken, read_claim, verify_token

#: How long after paying a visitor may leave without owing more.
EXIT_GRACE = dt.timedelta(minutes=15)
_VOID = (OrderStatus.EXPIRED, OrderStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class StayScan:
    """What the gate decides for a stay ticket: a check-in result, its reason, the yen due."""

    result: str
    reason: str = ""
    due: int = 0


@dataclass(frozen=True, slots=True)
class StayQuote:
    """The charge of an open stay at ``computed_at``."""

    visit: StayVisit
    ticket: Ticket
    product: Product
    computed_at: dt.datetime
    #: The stay's whole price from entry to ``computed_at``.
    period_total: int
    #: Yen of the paid charges so far.
    paid: int
    #: Yen owed now: 0 when within the grace after a payment.
    due: int
    #: Charges whose orders expired unpaid or were cancelled: a period they were for may
    #: be paid again, under a new idempotency key.
    void_charges: int = 0

    @property
    def minutes(self) -> int:
        """Whole minutes stayed so far."""
        return int((self.computed_at - self.visit.entered_at).total_seconds() // 60)


def due_messages(due: int) -> tuple[str, str]:
    """The visitor's (ja, en) text for an amount owed."""
    return f"精算が必要です（{yen_text(due)}）", f"Please pay your stay first: {yen_text(due)}"


async def scan_stay(
    session: AsyncSession, tenant: Tenant, ticket: Ticket, product: Product, direction: str
) -> StayScan:
    """Decide a scan of a valid (not cancelled) stay ticket; the caller logs it."""
    now = utcnow()
    if direction == "ride":
        return StayScan("invalid", "a stay ticket does not admit to rides")
    if direction == "entry":
        return await _enter(session, tenant, ticket, now)
    visit = await _visit(session, tenant, ticket.id)
    if visit is None:
        # As for every ticket (checkin.rules): no exit without an entry.
        return StayScan("not_entered", "exit, stay not started")
    if visit.exited_at is not None:
        return StayScan("already_used", "stay closed")
    quote = await quote_visit(session, tenant, visit, ticket, product, now)
    if quote.due > 0:
        return StayScan("payment_due", f"due {quote.due}", quote.due)
    closed = await updated_one(
        session,
        sa.update(StayVisit)
        .where(StayVisit.id == visit.id, StayVisit.exited_at.is_(None))
        .values(exited_at=now, updated_at=now),
    )
    if not closed:  # another gate let this stay out meanwhile
        return StayScan("already_used", "stay closed")
    return StayScan("admitted", f"stay closed, paid {quote.paid}")


async def _enter(
    session: AsyncSession, tenant: Tenant, ticket: Ticket, now: dt.datetime
) -> StayScan:
    today = facility_today(tenant.facility.timezone, now)
    if not ticket.valid_from <= today <= ticket.valid_until:
        return StayScan("not_valid_today", f"valid {ticket.valid_from}")
    # The conditional UPDATE admits one of two gates scanning at once; the other finds
    # no use left, so one stay is started.
    if not await order_states.use_ticket(session, tenant.id, ticket.id, now):
        return StayScan("already_used")
    session.add(StayVisit(facility_id=tenant.id, ticket_id=ticket.id, entered_at=now))
    await session.flush()
    await session.refresh(ticket)
    return StayScan("admitted", "stay started")


async def _visit(session: AsyncSession, tenant: Tenant, ticket_id: int) -> StayVisit | None:
    return await session.scalar(
        sa.select(StayVisit).where(
            StayVisit.facility_id == tenant.id, StayVisit.ticket_id == ticket_id
        )
    )


async def quote_visit(
    session: AsyncSession,
    tenant: Tenant,
    visit: StayVisit,
    ticket: Ticket,
    product: Product,
    now: dt.datetime,
) -> StayQuote:
    """What the stay owes at ``now``, given the charges whose orders are paid."""
    charges = (
        await session.execute(
            sa.select(StayCharge.amount, Order.status, Order.paid_at)
            .join(Order, Order.id == StayCharge.order_id)
            .where(StayCharge.facility_id == tenant.id, StayCharge.stay_visit_id == visit.id)
        )
    ).all()
    paid_at = [at for _, status, at in charges if status == OrderStatus.PAID and at is not None]
    paid = sum(amount for amount, status, _ in charges if status == OrderStatus.PAID)
    void = sum(1 for _, status, _ in charges if status in _VOID)
    total = stay_price(StayRate.of(product), visit.entered_at, now, tenant.facility.timezone)
    covered = bool(paid_at) and now <= max(paid_at) + EXIT_GRACE
    due = 0 if covered else max(0, total - paid)
    return StayQuote(visit, ticket, product, now, total, paid, due, void)


async def ticket_stay(
    session: AsyncSession, tenant: Tenant, ticket: Ticket, now: dt.datetime | None = None
) -> StayQuote | None:
    """The quote of a ticket's open stay; None when it is no stay ticket or not inside."""
    product = await session.get(Product, ticket.product_id)
    if product is None or product.kind != ProductKind.TIME_STAY:
        return None
    visit = await _visit(session, tenant, ticket.id)
    if visit is None or visit.exited_at is not None:
        return None
    return await quote_visit(session, tenant, visit, ticket, product, now or utcnow())


async def quote_token(session: AsyncSession, tenant: Tenant, token: str) -> StayQuote:
    """The quote of the open stay whose ticket QR ``token`` is; a clear 4xx otherwise."""
    try:
        claim = read_claim(token.strip())
        if claim.kind != KIND_TICKET or claim.facility_id != tenant.id:
            raise InvalidToken("not a ticket of this facility")
        verify_token(token.strip(), tenant.facility.signing_public_key)
    except InvalidToken:
        raise InvalidInput("This is not a valid ticket code.", "無効なQRコードです。") from None
    ticket = await session.scalar(
        sa.select(Ticket).where(Ticket.id == claim.subject_id, Ticket.facility_id == tenant.id)
    )
    if ticket is None or ticket.secret_version != claim.secret_version:
        raise InvalidInput("This is not a valid ticket code.", "無効なQRコードです。")
    if ticket.status == TicketStatus.CANCELLED:
        raise Conflict("This ticket is cancelled.", "キャンセルされたチケットです。")
    quote = await ticket_stay(session, tenant, ticket)
    if quote is None:
        raise NotFound(
            "This ticket has no stay in progress.", "このチケットの滞在記録がありません。"
        )
    return quote
