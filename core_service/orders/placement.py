"""Placing an order: validate the checkout, price it, take the places and write it.

``place_order`` validates a checkout, reserves capacity with atomic updates and writes
the order, so a refusal leaves nothing behind; a replay of the same idempotency key
returns the first order, also when it arrives while the first is still being placed
(sales of one key take turns: ``key_lock``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core_service.catalog import reservations, rules
from core_service.catalog.service import price_categories_by_id
from core_service.models import (
    Customer,
    Order,
    utcnow,
)
from core_service.orders import sale_statement
from core_service.orders.issuing import announce_paid
from core_service.orders.key_lock import one_sale_per_key
from core_service.orders.queries import find_order_by_key
from core_service.orders.requests import CheckoutRequest
from core_service.orders.sale_builder import Discount, PricedLine, build_sale, line_total
from core_service.orders.writer import write_sale
from core_service.platform.database import bound_engine, insert_or_ignore
from core_service.platform.errors import Conflict, InvalidInput, KippuError, SoldOut
from core_service.platform.tenancy import Tenant, refresh_after_rollback
from core_service.plugins.values import FieldError
from core_service.vouchers import discounts, uses
from core_service.webhooks import outbox
from kippu_contract.facility_time import facility_today
from kippu_contract.states import OrderStatus


class CheckoutRefused(InvalidInput):
    """Plugin validation failed; ``field_errors`` says which field and why."""

    def __init__(self, field_errors: list[FieldError]) -> None:
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


async def quote_discount(
    session: AsyncSession, tenant: Tenant, request: CheckoutRequest
) -> tuple[int, Discount]:
    """What the request's lines cost before its voucher, and the voucher's discount on
    them, as placing the order would compute them; nothing is taken or written. Refused
    like a placement (unknown, not valid, used up, not applicable; bad lines)."""
    priced = await _price_lines(session, tenant, request)
    discount = await _discount(session, tenant, request, priced)
    if discount is None:
        raise uses.VoucherUnknown("Enter a voucher code.", "クーポンコードを入力してください。")
    return sum(line_total(p) for p in priced), discount


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
    discount = await _discount(session, tenant, request, priced)
    total = sum(line_total(p) for p in priced) - (discount.total if discount else 0)
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
    # Who receives a paid sale's webhooks: the device paths' cached snapshot says so
    # without a query; other callers ask now, before this transaction ends.
    subscribed = await outbox.subscriptions(session, tenant) if request.payment else {}
    # The voucher's use is taken in this transaction (a conditional UPDATE: one winner
    # of the last use) and given back below if the order is then not written.
    if discount is not None and not await uses.take_use(session, tenant.id, discount.voucher_id):
        raise uses.used_up()
    # Take the places first, on a connection of their own (catalog.reservations): the
    # hot capacity row is then locked only inside one server statement. Ending this
    # read-only transaction first means a request never holds two pooled connections.
    await session.commit()
    sale = build_sale(tenant, request, priced, total, hold_minutes, customer, discount)
    try:
        await _take_places_and_write(session, tenant, request, sale, priced, subscribed)
    except BaseException:
        if discount is not None:
            await _give_back_use(session, tenant, discount.voucher_id)
        raise
    if sale.order.status == OrderStatus.PAID:
        await announce_paid(tenant, sale.order)
    return sale.order


async def _take_places_and_write(
    session: AsyncSession,
    tenant: Tenant,
    request: CheckoutRequest,
    sale: sale_statement.Sale,
    priced: list[PricedLine],
    subscribed: outbox.Subscriptions,
) -> None:
    announce = _announcement(tenant, subscribed, sale, priced)
    wants = _wants(priced)
    async with bound_engine(session).connect() as raw:
        connection = await reservations.autocommit(raw)
        # A replay of this key waits here until this sale is written or refused, so that
        # place_order's lookup after its refusal finds this order (orders.key_lock).
        # A sale with webhook events takes the receipt path: its order statement and
        # the events then share one transaction, which the hot row's lock is not part of.
        async with one_sale_per_key(connection, tenant.id, request.idempotency_key):
            if announce is not None or not await _sell_in_one_statement(
                connection, session, tenant, sale, wants
            ):
                await _reserve_and_write(connection, session, tenant, sale, wants, announce)


async def _discount(
    session: AsyncSession, tenant: Tenant, request: CheckoutRequest, priced: list[PricedLine]
) -> Discount | None:
    """The voucher's discount on these lines, or None without a code; refused (and
    nothing taken yet) when the code is unknown, not valid now, used up or matches
    none of the lines."""
    if not request.voucher_code.strip():
        return None
    voucher = await uses.usable_voucher(session, tenant, request.voucher_code, utcnow())
    terms = uses.terms_of(voucher)
    lines = [discounts.Line(p.product.id, p.category.price * p.quantity) for p in priced]
    if not discounts.applies(terms, lines):
        raise uses.not_applicable()
    return Discount(voucher.id, voucher.code, discounts.line_discounts(terms, lines))


async def _give_back_use(session: AsyncSession, tenant: Tenant, voucher_id: int) -> None:
    """The order was not written: its voucher use goes back, in a transaction of its own."""
    await _roll_back(session, tenant)
    await uses.give_back_use(session, tenant.id, voucher_id)
    await session.commit()


def _announcement(
    tenant: Tenant,
    subscribed: outbox.Subscriptions,
    sale: sale_statement.Sale,
    priced: list[PricedLine],
) -> outbox.Announcement | None:
    """The webhook events of a sale paid at once (order.paid, pass.issued), built when
    its rows have ids; None when nobody receives them, and the sale is written as ever."""
    if sale.payment is None or not outbox.wants_paid_order(subscribed):
        return None
    products = {line.product.id: line.product for line in priced}
    tickets = [ticket for _, ticket in sale.tickets]
    return lambda: outbox.paid_order_events(tenant, subscribed, sale.order, tickets, products)


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
    announce: outbox.Announcement | None,
) -> None:
    """Take the places first, each row in one statement that writes a receipt, then
    write the order consuming the receipts (and its webhook events, if ``announce``);
    give the places back if that fails."""
    try:
        receipts = await reservations.reserve_on(
            connection, tenant.id, wants, sell=sale.payment is not None
        )
    except reservations.NotEnoughPlaces as exc:
        raise _sold_out(exc.want) from None
    for line in sale.lines:
        assert line.visit_date is not None  # every line has a day (open-dated: the purchase day)
        receipt = receipts.get((line.product_id, line.visit_date, line.slot))
        line.capacity_id = receipt.capacity_id if receipt else None
    taken = [r for r in receipts.values() if r is not None]
    try:
        if not await write_sale(connection, session, sale, taken, announce):
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
) -> list[PricedLine]:
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
        visit_date: dt.date | None
        if not product.requires_date:
            visit_date = today  # open-dated: validity counts from the purchase day
        else:
            # A kiosk sells for the day it stands in; the web asks for a date.
            visit_date = line.visit_date or (today if request.channel == "kiosk" else None)
        if visit_date is None:
            raise InvalidInput("Choose a visit date.", "来場日を選んでください。")
        priced.append(PricedLine(line, category, product, visit_date))
    rules.check_order(
        priced,
        channel=request.channel,
        facility_settings=tenant.facility.settings or {},
        now=now,
        today=today,
    )
    return priced


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


def _wants(priced: list[PricedLine]) -> list[reservations.Want]:
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
