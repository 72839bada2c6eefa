"""Placing orders and moving them to paid: the sale's state machine.

``place_order`` validates a checkout, reserves capacity with atomic updates and writes
the order in one transaction, so a refusal leaves nothing behind. ``confirm_payment``
moves a payment and its order to paid exactly once (a duplicated notification is a
no-op), turns held places into sold ones and issues the tickets. ``expire_holds`` gives
back the places of checkouts that were never paid.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core_service.catalog import capacity, reservations, rules
from core_service.catalog.rules import MAX_TICKETS_PER_ORDER
from core_service.catalog.service import price_categories_by_id
from core_service.models import (
    Capacity,
    ConsentRecord,
    Customer,
    Order,
    OrderLine,
    Payment,
    PaymentEvent,
    PriceCategory,
    Product,
    Ticket,
    utcnow,
)
from core_service.models.catalog import PassHolder
from core_service.orders import sale_statement
from core_service.orders.requests import CheckoutRequest, ImmediatePayment, LineRequest
from core_service.platform.database import insert_or_ignore
from core_service.platform.errors import Conflict, InvalidInput, KippuError, NotFound, SoldOut
from core_service.platform.security import new_token
from core_service.platform.tenancy import Tenant, refresh_after_rollback
from core_service.plugins.values import PaidOrder
from kippu_contract.facility_time import facility_today

__all__ = ["MAX_TICKETS_PER_ORDER", "place_order", "confirm_payment", "expire_holds"]
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud


class CheckoutRefused(InvalidInput):
    """Plugin validation failed; ``field_errors`` says which field and why."""

    def __init__(self, field_errors: list) -> None:  # list[FieldError]
        first = field_errors[0]
        super().__init__(
            first.message_en,
            first.message_ja,
            fields={e.field: {"ja": e.message_ja, "en": e.message_en} for e in field_errors},
        )
        self.field_errors = field_errors


class _SoldOutFirstTry(SoldOut):
    """Sold out, and the same statement found no order with the idempotency key: no
    replay to look for (at 256 buyers a quarter of all requests end this way)."""


def new_order_code() -> str:
    # One read of the system's randomness, not one per letter. 32 letters, so taking
    # each byte modulo 32 is exactly uniform.
    return "".join(_CODE_ALPHABET[byte % 32] for byte in secrets.token_bytes(10))


@dataclass(frozen=True, slots=True)
class _PricedLine:
    request: LineRequest
    category: PriceCategory
    product: Product
    visit_date: dt.date

    # The attributes the catalog rules read (see catalog.rules._Line).
    @property
    def quantity(self) -> int:
        return self.request.quantity

    @property
    def slot(self) -> str:
        return self.request.slot

    @property
    def holders(self) -> tuple[rules.Holder, ...]:
        return self.request.holders


async def find_order_by_key(session: AsyncSession, tenant: Tenant, key: str) -> Order | None:
    return await session.scalar(
        sa.select(Order).where(Order.facility_id == tenant.id, Order.idempotency_key == key)
    )


async def place_order(
    session: AsyncSession, tenant: Tenant, request: CheckoutRequest, *, hold_minutes: int
) -> tuple[Order, bool]:
    """Create the order (pending with held places, or paid at once when the request
    carries an immediate payment). Returns (order, created); a replay of the same
    idempotency key returns the first order and ``created=False``."""
    try:
        return await _place_new_order(session, tenant, request, hold_minutes), True
    except _SoldOutFirstTry:
        raise  # the refusing statement also found no order with this key
    except (KippuError, IntegrityError):
        # Replays are rare, so the first order is looked for only when this one could
        # not be placed: its key is taken (IntegrityError), or by now its places are
        # sold out or its sales window closed. Nothing of this attempt was kept.
        if request.idempotency_key:
            await _roll_back(session, tenant)
            existing = await find_order_by_key(session, tenant, request.idempotency_key)
            if existing is not None:
                return existing, False
        raise


async def _roll_back(session: AsyncSession, tenant: Tenant) -> None:
    """Undo a failed write, keeping the tenant's facility readable."""
    if session.in_transaction():
        await session.rollback()
        await refresh_after_rollback(session, tenant)


async def _place_new_order(
    session: AsyncSession, tenant: Tenant, request: CheckoutRequest, hold_minutes: int
) -> Order:
    priced = await _price_lines(session, tenant, request)
    errors = tenant.plugins.validate_checkout(request.channel, request.answers)
    if errors:
        raise CheckoutRefused(errors)
    total = sum(_line_total(p) for p in priced)
    if request.payment is not None and request.payment.amount != total:
        raise Conflict(
            f"Payment amount {request.payment.amount} does not match the order total {total}.",
            f"決済金額 {request.payment.amount} 円が注文金額 {total} 円と一致しません。",
        )
    customer = await _customer(session, tenant, request)
    # The products stay referenced for the response (the session's identity map holds
    # objects only weakly, and a cached snapshot's are not in it): presenters then find
    # them here instead of querying again.
    session.info["priced_products"] = [line.product for line in priced]
    # Take the places first, on a connection of their own (catalog.reservations): the
    # hot capacity row is then locked only inside one server statement. Ending this
    # read-only transaction first means a request never holds two pooled connections.
    await session.commit()
    sale = _build_sale(tenant, request, priced, total, hold_minutes, customer)
    wants = _wants(priced)
    async with session.bind.connect() as raw:
        connection = await reservations.autocommit(raw)
        if not await _sell_in_one_statement(connection, session, tenant, sale, wants):
            await _reserve_and_write(connection, session, tenant, sale, wants)
    if sale.order.status == "paid":
        await _announce_paid(tenant, sale.order)
    return sale.order


async def _sell_in_one_statement(
    connection: AsyncConnection,
    session: AsyncSession,
    tenant: Tenant,
    sale: sale_statement.Sale,
    wants: list[reservations.Want],
) -> bool:
    """The onsale case on PostgreSQL (paid at once, one capacity row): sell the places
    and write the order in one statement, no receipt. False when it does not apply or
    the capacity row does not exist yet (the receipt path creates it)."""
    if not (
        connection.dialect.name == "postgresql"
        and sale.payment is not None
        and len(wants) == 1
        and wants[0].product.slot_capacity(wants[0].slot) is not None
    ):
        return False
    outcome = await sale_statement.take_and_write_order(
        connection, session, sale, tenant.id, wants[0]
    )
    if outcome is sale_statement.Taken.FULL_FIRST_TRY:
        raise _sold_out(wants[0], _SoldOutFirstTry)
    if outcome is sale_statement.Taken.FULL:
        raise _sold_out(wants[0])
    return outcome is sale_statement.Taken.WRITTEN


async def _reserve_and_write(
    connection: AsyncConnection,
    session: AsyncSession,
    tenant: Tenant,
    sale: sale_statement.Sale,
    wants: list[reservations.Want],
) -> None:
    """Take the places first, each row in one statement that writes a receipt, then
    write the order consuming the receipts; give the places back if that fails."""
    try:
        receipts = await reservations.reserve_on(
            connection, tenant.id, wants, sell=sale.payment is not None
        )
    except reservations.NotEnoughPlaces as exc:
        raise _sold_out(exc.want) from None
    for line in sale.lines:
        receipt = receipts.get((line.product_id, line.visit_date, line.slot))
        line.capacity_id = receipt.capacity_id if receipt else None
    taken = [r for r in receipts.values() if r is not None]
    try:
        if not await _write(connection, session, sale, taken):
            # The sweeper gave these places back (this request took minutes).
            raise Conflict(
                "The reservation expired while the order was written; please try again.",
                "予約の保持時間が過ぎました。もう一度お試しください。",
            )
    except BaseException:
        await _roll_back(session, tenant)
        await reservations.release_on(connection, taken)
        raise


async def _price_lines(
    session: AsyncSession, tenant: Tenant, request: CheckoutRequest
) -> list[_PricedLine]:
    if not request.lines:
        raise InvalidInput("Choose at least one ticket.", "チケットを1枚以上選んでください。")
    if any(line.quantity < 1 for line in request.lines):
        raise InvalidInput("Quantities must be at least 1.", "枚数は1以上にしてください。")
    categories = await price_categories_by_id(
        session, tenant, [line.price_category_id for line in request.lines]
    )
    now = utcnow()
    today = facility_today(tenant.facility.timezone, now)
    priced = []
    for line in request.lines:
        category = categories.get(line.price_category_id)
        if category is None:
            raise InvalidInput("Unknown ticket type.", "存在しない券種です。")
        product = category.product
        if not product.requires_date:
            visit_date = today  # open-dated: validity counts from the purchase day
        else:
            # A kiosk sells for the day it stands in; the web asks for a date.
            visit_date = line.visit_date or (today if request.channel == "kiosk" else None)
        if visit_date is None:
            raise InvalidInput("Choose a visit date.", "来場日を選んでください。")
        priced.append(_PricedLine(line, category, product, visit_date))
    rules.check_order(
        priced,
        channel=request.channel,
        facility_settings=tenant.facility.settings or {},
        now=now,
        today=today,
    )
    return priced


def _line_total(line: _PricedLine) -> int:
    return (line.category.price + line.category.handling_fee) * line.request.quantity


async def _customer(
    session: AsyncSession, tenant: Tenant, request: CheckoutRequest
) -> Customer | None:
    if not request.customer_email:
        return None
    email = request.customer_email.strip().lower()
    # Two first orders of one visitor may arrive together; one customer row survives.
    await insert_or_ignore(
        session,
        Customer,
        facility_id=tenant.id,
        email=email,
        name=request.customer_name,
        pseudonym=secrets.token_hex(16),
        locale=request.locale,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    customer = await session.scalar(
        sa.select(Customer).where(Customer.facility_id == tenant.id, Customer.email == email)
    )
    assert customer is not None
    if request.marketing_opt_in:
        customer.marketing_opt_in = True
    if request.customer_name:
        customer.name = request.customer_name
    await session.flush()
    return customer


def _wants(priced: list[_PricedLine]) -> list[reservations.Want]:
    """Places wanted per (product, date, slot): one capacity row is taken from once."""
    wanted: dict[tuple[int, dt.date, str], int] = defaultdict(int)
    products = {line.product.id: line.product for line in priced}
    for line in priced:
        wanted[(line.product.id, line.visit_date, line.slot)] += line.quantity
    return [
        reservations.Want(products[product_id], date, slot, quantity)
        for (product_id, date, slot), quantity in wanted.items()
    ]


def _sold_out(want: reservations.Want, error: type[SoldOut] = SoldOut) -> SoldOut:
    when = f"{want.date.isoformat()} {want.slot}".strip()
    return error(
        f"{want.product.name_en} is sold out for {when}.",
        f"{when}の{want.product.name_ja}は売り切れました。",
    )


def _build_sale(
    tenant: Tenant,
    request: CheckoutRequest,
    priced: list[_PricedLine],
    total: int,
    hold_minutes: int,
    customer: Customer | None,
) -> sale_statement.Sale:
    """Every object of the order, not yet written: both writers write exactly these."""
    now = utcnow()
    paid = request.payment is not None
    order = Order(
        facility_id=tenant.id,
        code=new_order_code(),
        channel=request.channel,
        status="paid" if paid else "pending",
        paid_at=now if paid else None,
        customer_id=customer.id if customer else None,
        device_id=request.device_id,
        locale=request.locale,
        total=total,
        idempotency_key=request.idempotency_key,
        access_key=new_token(24),
        hold_expires_at=None if paid else now + dt.timedelta(minutes=hold_minutes),
    )
    lines = [
        OrderLine(
            facility_id=tenant.id,
            product_id=line.product.id,
            price_category_id=line.category.id,
            product_name_ja=line.product.name_ja,
            product_name_en=line.product.name_en,
            category_name_ja=line.category.name_ja,
            category_name_en=line.category.name_en,
            visit_date=line.visit_date,
            slot=line.slot,
            quantity=line.quantity,
            unit_price=line.category.price,
            handling_fee=line.category.handling_fee,
            tax_rate=line.product.tax_rate,
            line_total=_line_total(line),
        )
        for line in priced
    ]
    holders = _holders(tenant, priced)
    tickets: list[tuple[int, Ticket]] = []
    holder_tickets: list[int | None] = [None] * len(holders)
    payment = event = None
    if paid:
        assert request.payment is not None
        payment, event = _immediate_payment(tenant, order, request.payment, now)
        for index, (line, order_line) in enumerate(zip(priced, lines, strict=True)):
            line_holders = [h for i, _, h in holders if i == index]
            first = len(tickets)
            tickets.extend(
                (index, t) for t in _new_tickets(tenant, order_line, line.product, line_holders)
            )
            # The holder at position p holds the line's p-th ticket.
            for number, (i, _, holder) in enumerate(holders):
                if i == index:
                    holder_tickets[number] = first + holder.position
    return sale_statement.Sale(
        order=order,
        lines=lines,
        tickets=tickets,
        holders=[(i, t, h) for (i, _, h), t in zip(holders, holder_tickets, strict=True)],
        payment=payment,
        payment_event=event,
        consents=_consents(tenant, request, now),
        first_purchase_customer_id=customer.id if customer is not None and paid else None,
        now=now,
    )


async def _write(
    connection: AsyncConnection,
    session: AsyncSession,
    sale: sale_statement.Sale,
    receipts: list[reservations.Reservation],
) -> bool:
    """Write the sale and consume its receipts: one statement on PostgreSQL, the ORM on
    SQLite (which has no data-modifying CTEs). False when a receipt was swept."""
    if connection.dialect.name == "postgresql":
        return await sale_statement.write_order(connection, session, sale, [r.id for r in receipts])
    return await _write_sale(session, sale, receipts)


async def _write_sale(
    session: AsyncSession, sale: sale_statement.Sale, receipts: list[reservations.Reservation]
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
        await _note_first_purchase(session, sale.first_purchase_customer_id, sale.now)
    if not await reservations.consume(session, receipts):
        return False  # the caller rolls back
    await session.commit()
    return True


def _holders(tenant: Tenant, priced: list[_PricedLine]) -> list[tuple[int, int, PassHolder]]:
    """The pass holders of every line: (line index, position, holder)."""
    return [
        (
            index,
            position,
            PassHolder(
                facility_id=tenant.id,
                position=position,
                name=holder.name.strip()[:200],
                birth_date=holder.birth_date,
                photo=holder.photo,
                photo_type=holder.photo_type,
            ),
        )
        for index, line in enumerate(priced)
        for position, holder in enumerate(line.holders)
    ]


def _consents(tenant: Tenant, request: CheckoutRequest, now: dt.datetime) -> list[ConsentRecord]:
    consents = []
    for field in tenant.plugins.checkout_fields(request.channel):
        if field.is_consent and request.answers.get(field.name) is True:
            text = f"{field.label(request.locale)}\n{field.text(request.locale)}".strip()
            consents.append(
                ConsentRecord(
                    facility_id=tenant.id,
                    plugin=field.plugin,
                    field=field.name,
                    text=text,
                    text_sha256=hashlib.sha256(text.encode()).hexdigest(),
                    locale=request.locale,
                    accepted_at=now,
                )
            )
    return consents


def _immediate_payment(
    tenant: Tenant, order: Order, payment: ImmediatePayment, now: dt.datetime
) -> tuple[Payment, PaymentEvent]:
    record = Payment(
        facility_id=tenant.id,
        provider=payment.provider,
        method=payment.method,
        state="paid",
        amount=payment.amount,
        provider_ref=payment.reference,
        idempotency_key=order.idempotency_key,
    )
    event = PaymentEvent(
        facility_id=tenant.id,
        at=now,
        from_state="created",
        to_state="paid",
        detail={"reference": payment.reference},
    )
    return record, event


async def _mark_paid(
    session: AsyncSession, tenant: Tenant, order: Order, now: dt.datetime
) -> list[OrderLine] | None:
    """pending → paid exactly once and issue the tickets; the order's lines, or None if
    it was not pending. Held places are NOT converted here: see :func:`_convert_holds`."""
    result = await session.execute(
        sa.update(Order)
        .where(Order.id == order.id, Order.facility_id == tenant.id, Order.status == "pending")
        .values(status="paid", paid_at=now, hold_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    lines = (
        await session.scalars(sa.select(OrderLine).where(OrderLine.order_id == order.id))
    ).all()
    for line in lines:
        product = await session.get(Product, line.product_id)
        assert product is not None
        holders = (
            (
                await session.scalars(
                    sa.select(PassHolder)
                    .where(PassHolder.order_line_id == line.id)
                    .order_by(PassHolder.position)
                )
            ).all()
            if product.holder_required
            else []
        )
        tickets = _new_tickets(tenant, line, product, list(holders))
        session.add_all(tickets)
        await session.flush()
        _link_holders([list(holders)], tickets)
    if order.customer_id is not None:
        await _note_first_purchase(session, order.customer_id, now)
    await session.refresh(order)
    return list(lines)


async def _convert_holds(session: AsyncSession, lines: list[OrderLine]) -> None:
    """Turn the held places of paid lines into sold ones. The caller runs this last
    before its COMMIT, so the hot capacity row stays locked as briefly as possible."""
    for line in sorted(lines, key=lambda item: item.capacity_id or 0):
        if line.capacity_id is not None:
            await capacity.convert_hold(session, line.capacity_id, line.quantity)


async def _note_first_purchase(session: AsyncSession, customer_id: int, now: dt.datetime) -> None:
    await session.execute(
        sa.update(Customer)
        .where(Customer.id == customer_id, Customer.first_purchase_at.is_(None))
        .values(first_purchase_at=now)
    )


def _new_tickets(
    tenant: Tenant, line: OrderLine, product: Product, holders: list[PassHolder]
) -> list[Ticket]:
    """The tickets of one paid line (not yet added to the session)."""
    assert line.visit_date is not None
    valid_from, valid_until = rules.validity(product, line.visit_date)
    # A tear-off coupon book is N single-use tickets (one QR each) per book bought; the
    # line keeps quantity = books and the book price, so sales and refunds are unchanged.
    tear_off = product.kind == "coupon_book" and product.coupon_tear_off
    count, uses = (line.quantity * product.uses, 1) if tear_off else (line.quantity, product.uses)
    return [
        Ticket(
            facility_id=tenant.id,
            order_id=line.order_id,
            order_line_id=line.id,
            product_id=line.product_id,
            price_category_id=line.price_category_id,
            valid_from=valid_from,
            valid_until=valid_until,
            slot=line.slot,
            uses_total=uses,
            uses_left=uses,
            holder_name=holders[i].name if i < len(holders) else "",
        )
        for i in range(count)
    ]


def _link_holders(holders_per_line: list[list[PassHolder]], tickets: list[Ticket]) -> None:
    """Point each pass holder at the ticket issued for them (tickets carry ids by now)."""
    by_line: dict[int, list[Ticket]] = defaultdict(list)
    for ticket in tickets:
        by_line[ticket.order_line_id].append(ticket)
    for holders in holders_per_line:
        for holder in holders:
            holder.ticket_id = by_line[holder.order_line_id][holder.position].id


async def _announce_paid(tenant: Tenant, order: Order) -> None:
    await tenant.plugins.order_paid(
        PaidOrder(
            id=order.id,
            code=order.code,
            channel=order.channel,
            total=order.total,
            ticket_ids=tuple(t.id for t in order.tickets),
        )
    )


async def load_order(session: AsyncSession, tenant: Tenant, code: str) -> Order:
    order = await session.scalar(
        sa.select(Order).where(Order.facility_id == tenant.id, Order.code == code)
    )
    if order is None:
        raise NotFound("No such order.", "ご注文が見つかりません。")
    return order


async def create_payment(
    session: AsyncSession, tenant: Tenant, order: Order, provider: str, method: str
) -> Payment:
    """A new payment attempt for a pending order."""
    if order.status != "pending":
        raise Conflict("This order cannot be paid any more.", "このご注文はお支払いできません。")
    payment = Payment(
        facility_id=tenant.id,
        order_id=order.id,
        provider=provider,
        method=method,
        state="pending",
        amount=order.total,
        idempotency_key=new_token(16),
    )
    session.add(payment)
    await session.flush()
    session.add(
        PaymentEvent(
            facility_id=tenant.id,
            payment_id=payment.id,
            at=utcnow(),
            from_state="created",
            to_state="pending",
            detail={},
        )
    )
    await session.commit()
    return payment


async def confirm_payment(
    session: AsyncSession, tenant: Tenant, payment_id: int, provider_ref: str
) -> tuple[Order, bool]:
    """Mark a payment and its order paid. Returns (order, newly_paid); repeating it for
    the same payment changes nothing."""
    now = utcnow()
    payment = await session.scalar(
        sa.select(Payment).where(Payment.id == payment_id, Payment.facility_id == tenant.id)
    )
    if payment is None:
        raise NotFound("No such payment.", "お支払いが見つかりません。")
    order = await session.get(Order, payment.order_id)
    assert order is not None
    moved = await session.execute(
        sa.update(Payment)
        .where(Payment.id == payment.id, Payment.state == "pending")
        .values(state="paid", provider_ref=provider_ref)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        # Already decided (a duplicated or late notification): nothing changes.
        await session.commit()
        await session.refresh(order, ["status", "lines", "tickets"])
        return order, False
    session.add(
        PaymentEvent(
            facility_id=tenant.id,
            payment_id=payment.id,
            at=now,
            from_state="pending",
            to_state="paid",
            detail={"provider_ref": provider_ref},
        )
    )
    paid_lines = await _mark_paid(session, tenant, order, now)
    newly_paid = paid_lines is not None
    if not newly_paid:
        await session.refresh(order, ["status"])
    if not newly_paid and order.status == "expired":
        # Paid after the hold expired: the places may still be free.
        newly_paid = await _revive_expired(session, tenant, order, now)
        if newly_paid:
            await session.execute(
                sa.update(Payment).where(Payment.id == payment.id).values(data={"reacquired": True})
            )
    if not newly_paid:
        # Paid after the hold expired and the places are gone (or paid twice by two
        # attempts): keep the record so that reconciliation refunds it; issue nothing.
        await session.execute(
            sa.update(Payment)
            .where(Payment.id == payment.id)
            .values(data={"needs_refund": True, "reason": f"order {order.status}"})
        )
    if paid_lines:
        await _convert_holds(session, paid_lines)  # last before the COMMIT (see there)
    await session.commit()
    await session.refresh(order, ["lines", "tickets"])
    if newly_paid:
        await _announce_paid(tenant, order)
    return order, newly_paid


async def _revive_expired(
    session: AsyncSession, tenant: Tenant, order: Order, now: dt.datetime
) -> bool:
    """expired → paid when every place of the order can be sold again; else nothing."""
    lines = (
        await session.scalars(sa.select(OrderLine).where(OrderLine.order_id == order.id))
    ).all()
    taken: list[OrderLine] = []
    for line in sorted(lines, key=lambda item: item.capacity_id or 0):
        if line.capacity_id is None:
            continue
        if not await capacity.sell_now(session, line.capacity_id, line.quantity):
            for done in taken:  # give back what this attempt took
                await session.execute(
                    sa.update(Capacity)
                    .where(Capacity.id == done.capacity_id)
                    .values(sold=Capacity.sold - done.quantity)
                )
            return False
        taken.append(line)
    moved = await session.execute(
        sa.update(Order)
        .where(Order.id == order.id, Order.facility_id == tenant.id, Order.status == "expired")
        .values(status="pending")
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return False
    # The places are sold already: no holds to convert.
    return await _mark_paid(session, tenant, order, now) is not None


async def payment_outcome(session: AsyncSession, tenant: Tenant, order: Order) -> str:
    """What the visitor's order page should say about a late payment:
    "reacquired" (paid after the hold expired, places still free), "refund" (paid after
    the hold expired and sold out: refunded), or "" (nothing special)."""
    rows = await session.scalars(
        sa.select(Payment.data).where(
            Payment.order_id == order.id, Payment.facility_id == tenant.id, Payment.state == "paid"
        )
    )
    outcome = ""
    for data in rows:
        if (data or {}).get("needs_refund") and order.status != "paid":
            return "refund"
        if (data or {}).get("reacquired"):
            outcome = "reacquired"
    return outcome


async def fail_payment(session: AsyncSession, tenant: Tenant, payment_id: int, reason: str) -> None:
    moved = await session.execute(
        sa.update(Payment)
        .where(
            Payment.id == payment_id, Payment.facility_id == tenant.id, Payment.state == "pending"
        )
        .values(state="failed")
    )
    if moved.rowcount == 1:
        session.add(
            PaymentEvent(
                facility_id=tenant.id,
                payment_id=payment_id,
                at=utcnow(),
                from_state="pending",
                to_state="failed",
                detail={"reason": reason},
            )
        )
    await session.commit()


async def expire_holds(session: AsyncSession, now: dt.datetime | None = None) -> int:
    """Expire unpaid checkouts past their hold (all facilities); returns how many."""
    now = now or utcnow()
    due = (
        await session.scalars(
            sa.select(Order.id).where(Order.status == "pending", Order.hold_expires_at < now)
        )
    ).all()
    expired = 0
    for order_id in due:
        moved = await session.execute(
            sa.update(Order)
            .where(Order.id == order_id, Order.status == "pending")
            .values(status="expired", hold_expires_at=None)
        )
        if moved.rowcount != 1:
            continue  # paid meanwhile
        lines = await session.scalars(sa.select(OrderLine).where(OrderLine.order_id == order_id))
        for line in lines:
            if line.capacity_id is not None:
                await capacity.release_hold(session, line.capacity_id, line.quantity)
        expired += 1
        await session.commit()
    await session.commit()
    return expired
