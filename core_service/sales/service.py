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
from sqlalchemy.ext.asyncio import AsyncSession

from ..catalog import capacity, rules
from ..catalog.rules import MAX_TICKETS_PER_ORDER
from ..catalog.service import price_categories_by_id
from ..clock import facility_today
from ..database import insert_or_ignore
from ..errors import Conflict, InvalidInput, NotFound, SoldOut
from ..models import (
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
from ..models.catalog import PassHolder
from ..plugin_api import PaidOrder
from ..security import new_token
from ..tenancy import Tenant
from .requests import CheckoutRequest, ImmediatePayment, LineRequest

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


def new_order_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))


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
    if request.idempotency_key:
        existing = await find_order_by_key(session, tenant, request.idempotency_key)
        if existing is not None:
            return existing, False
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
    try:
        order = await _write_order(session, tenant, request, priced, total, hold_minutes)
        await session.commit()
        await session.refresh(order, ["lines", "tickets"])
    except IntegrityError:
        # Another request with the same idempotency key won the race: return its order.
        await session.rollback()
        if request.idempotency_key:
            existing = await find_order_by_key(session, tenant, request.idempotency_key)
            if existing is not None:
                return existing, False
        raise
    except BaseException:
        await session.rollback()
        raise
    if order.status == "paid":
        await _announce_paid(tenant, order)
    return order, True


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


def _wanted(priced: list[_PricedLine]) -> dict[tuple[int, dt.date, str], int]:
    """Places wanted per (product, date, slot): one row is updated once per order."""
    wanted: dict[tuple[int, dt.date, str], int] = defaultdict(int)
    for line in priced:
        wanted[(line.product.id, line.visit_date, line.slot)] += line.quantity
    return wanted


async def _capacity_rows(
    session: AsyncSession, priced: list[_PricedLine]
) -> dict[tuple[int, dt.date, str], int | None]:
    """The capacity row of each (product, date, slot), created if missing; no lock taken."""
    products = {line.product.id: line.product for line in priced}
    rows: dict[tuple[int, dt.date, str], int | None] = {}
    for key in sorted(_wanted(priced)):
        product_id, date, slot = key
        rows[key] = await capacity.ensure_capacity_row(session, products[product_id], date, slot)
    return rows


async def _reserve(
    session: AsyncSession,
    priced: list[_PricedLine],
    rows: dict[tuple[int, dt.date, str], int | None],
    sell: bool,
) -> None:
    """Hold (or sell) the places of every line with one conditional UPDATE per row.

    Called last before the commit: the row lock each UPDATE takes is then held for one
    round trip (the COMMIT), not while the order, its lines and tickets are written, so
    buyers of one hot slot queue on the row as briefly as possible.
    """
    products = {line.product.id: line.product for line in priced}
    reserve = capacity.sell_now if sell else capacity.hold
    # Sorted so that two orders touching the same rows lock them in the same order.
    for key, quantity in sorted(_wanted(priced).items()):
        row_id = rows[key]
        if row_id is None:
            continue
        if not await reserve(session, row_id, quantity):
            product_id, date, slot = key
            product = products[product_id]
            when = f"{date.isoformat()} {slot}".strip()
            raise SoldOut(
                f"{product.name_en} is sold out for {when}.",
                f"{when}の{product.name_ja}は売り切れました。",
            )


async def _write_order(
    session: AsyncSession,
    tenant: Tenant,
    request: CheckoutRequest,
    priced: list[_PricedLine],
    total: int,
    hold_minutes: int,
) -> Order:
    now = utcnow()
    customer = await _customer(session, tenant, request)
    capacity_rows = await _capacity_rows(session, priced)
    order = Order(
        facility_id=tenant.id,
        code=new_order_code(),
        channel=request.channel,
        status="pending",
        customer_id=customer.id if customer else None,
        device_id=request.device_id,
        locale=request.locale,
        total=total,
        idempotency_key=request.idempotency_key,
        access_key=new_token(24),
        hold_expires_at=now + dt.timedelta(minutes=hold_minutes),
    )
    session.add(order)
    await session.flush()
    order_lines = []
    for line in priced:
        order_line = OrderLine(
            facility_id=tenant.id,
            order_id=order.id,
            product_id=line.product.id,
            price_category_id=line.category.id,
            capacity_id=capacity_rows[(line.product.id, line.visit_date, line.slot)],
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
        session.add(order_line)
        order_lines.append(order_line)
    _record_consents(session, tenant, request, order, now)
    await session.flush()
    _record_holders(session, tenant, order, priced, order_lines)
    if request.payment is not None:
        await _record_immediate_payment(session, tenant, order, request.payment, now)
        await _mark_paid(session, tenant, order, now, converting_holds=False)
    # Nothing may follow the reservation but the COMMIT (see _reserve).
    await _reserve(session, priced, capacity_rows, sell=request.payment is not None)
    return order


def _record_holders(
    session: AsyncSession,
    tenant: Tenant,
    order: Order,
    priced: list[_PricedLine],
    order_lines: list[OrderLine],
) -> None:
    for line, order_line in zip(priced, order_lines, strict=True):
        for position, holder in enumerate(line.holders):
            session.add(
                PassHolder(
                    facility_id=tenant.id,
                    order_id=order.id,
                    order_line_id=order_line.id,
                    position=position,
                    name=holder.name.strip()[:200],
                    birth_date=holder.birth_date,
                    photo=holder.photo,
                    photo_type=holder.photo_type,
                )
            )


def _record_consents(
    session: AsyncSession, tenant: Tenant, request: CheckoutRequest, order: Order, now: dt.datetime
) -> None:
    for field in tenant.plugins.checkout_fields(request.channel):
        if field.is_consent and request.answers.get(field.name) is True:
            text = f"{field.label(request.locale)}\n{field.text(request.locale)}".strip()
            session.add(
                ConsentRecord(
                    facility_id=tenant.id,
                    order_id=order.id,
                    plugin=field.plugin,
                    field=field.name,
                    text=text,
                    text_sha256=hashlib.sha256(text.encode()).hexdigest(),
                    locale=request.locale,
                    accepted_at=now,
                )
            )


async def _record_immediate_payment(
    session: AsyncSession, tenant: Tenant, order: Order, payment: ImmediatePayment, now: dt.datetime
) -> None:
    record = Payment(
        facility_id=tenant.id,
        order_id=order.id,
        provider=payment.provider,
        method=payment.method,
        state="paid",
        amount=payment.amount,
        provider_ref=payment.reference,
        idempotency_key=order.idempotency_key,
    )
    session.add(record)
    await session.flush()
    session.add(
        PaymentEvent(
            facility_id=tenant.id,
            payment_id=record.id,
            at=now,
            from_state="created",
            to_state="paid",
            detail={"reference": payment.reference},
        )
    )


async def _mark_paid(
    session: AsyncSession, tenant: Tenant, order: Order, now: dt.datetime, *, converting_holds: bool
) -> bool:
    """pending → paid exactly once; issues tickets. False if it was not pending."""
    result = await session.execute(
        sa.update(Order)
        .where(Order.id == order.id, Order.facility_id == tenant.id, Order.status == "pending")
        .values(status="paid", paid_at=now, hold_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    lines = (
        await session.scalars(sa.select(OrderLine).where(OrderLine.order_id == order.id))
    ).all()
    for line in lines:
        if converting_holds and line.capacity_id is not None:
            await capacity.convert_hold(session, line.capacity_id, line.quantity)
        await _issue_tickets(session, tenant, line)
    if order.customer_id is not None:
        await session.execute(
            sa.update(Customer)
            .where(Customer.id == order.customer_id, Customer.first_purchase_at.is_(None))
            .values(first_purchase_at=now)
        )
    await session.refresh(order)
    return True


async def _issue_tickets(session: AsyncSession, tenant: Tenant, line: OrderLine) -> None:
    product = await session.get(Product, line.product_id)
    assert product is not None and line.visit_date is not None
    valid_from, valid_until = rules.validity(product, line.visit_date)
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
    # A tear-off coupon book is N single-use tickets (one QR each) per book bought; the
    # line keeps quantity = books and the book price, so sales and refunds are unchanged.
    tear_off = product.kind == "coupon_book" and product.coupon_tear_off
    count, uses = (line.quantity * product.uses, 1) if tear_off else (line.quantity, product.uses)
    tickets = []
    for i in range(count):
        ticket = Ticket(
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
        session.add(ticket)
        tickets.append(ticket)
    await session.flush()
    for holder, ticket in zip(holders, tickets, strict=False):
        holder.ticket_id = ticket.id


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
    newly_paid = await _mark_paid(session, tenant, order, now, converting_holds=True)
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
    # The places are sold already; _mark_paid must not convert holds a second time.
    return await _mark_paid(session, tenant, order, now, converting_holds=False)


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
