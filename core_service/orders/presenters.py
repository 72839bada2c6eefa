"""Turning orders and tickets into API shapes, with signed QR tokens."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.util import identity_key

from core_service.models import Facility, Order, Payment, Product, Ticket
from core_service.orders.schemas import OrderLineOut, OrderOut, TaxLineOut, TicketOut
from core_service.orders.tax import tax_summary
from core_service.platform.tenancy import signing_key
from kippu_contract.states import PaymentState
from kippu_contract.tokens import KIND_ORDER_GROUP, KIND_TICKET, TokenClaim, sign_token


def ticket_token(facility: Facility, ticket: Ticket, secret_key: str) -> str:
    claim = TokenClaim(KIND_TICKET, facility.id, ticket.id, ticket.secret_version)
    return sign_token(signing_key(facility, secret_key), claim)


def group_token(facility: Facility, order: Order, secret_key: str) -> str:
    claim = TokenClaim(KIND_ORDER_GROUP, facility.id, order.id, 1)
    return sign_token(signing_key(facility, secret_key), claim)


async def paid_payment_method(session: AsyncSession, order: Order) -> str | None:
    return await session.scalar(
        sa.select(Payment.method).where(
            Payment.order_id == order.id, Payment.state == PaymentState.PAID
        )
    )


async def order_out(
    session: AsyncSession, order: Order, *, payment_method: str | None = None
) -> OrderOut:
    """The order as the API shows it; ``payment_method`` saves a query when the caller
    has just recorded the payment."""
    lines = [
        OrderLineOut(
            product_name_ja=line.product_name_ja,
            product_name_en=line.product_name_en,
            category_name_ja=line.category_name_ja,
            category_name_en=line.category_name_en,
            quantity=line.quantity,
            unit_price=line.unit_price,
            handling_fee=line.handling_fee,
            tax_rate=line.tax_rate,
            line_total=line.line_total,
            visit_date=line.visit_date,
            discount=line.discount,
        )
        for line in order.lines
    ]
    taxes = tax_summary((line.tax_rate, line.line_total) for line in order.lines)
    return OrderOut(
        code=order.code,
        channel=order.channel,
        status=order.status,
        total=order.total,
        created_at=order.created_at,
        paid_at=order.paid_at,
        payment_method=payment_method or await paid_payment_method(session, order),
        lines=lines,
        tax_summary=[TaxLineOut(t.rate, t.total, t.tax) for t in taxes],
        voucher_code=order.voucher_code,
        discount=order.discount,
    )


async def _products(session: AsyncSession, ids: set[int]) -> dict[int, Product]:
    """Products by id; those a sale just priced (held in ``session.info``, from the
    session or a cached snapshot) or the session holds already cost no query."""
    held = [
        *session.info.get("priced_products", ()),
        *(session.identity_map.get(identity_key(Product, product_id)) for product_id in ids),
    ]
    # An expired one (after a rollback) would load itself lazily: not in async code.
    products: dict[int, Product] = {
        p.id: p
        for p in held
        if p is not None and not sa.inspect(p).expired_attributes and p.id in ids
    }
    missing = ids - products.keys()
    if missing:
        rows = await session.scalars(
            sa.select(Product)
            .where(Product.id.in_(missing))
            .options(lazyload(Product.price_categories))  # not needed here: no second query
        )
        products.update((p.id, p) for p in rows)
    return products


async def tickets_out(
    session: AsyncSession, facility: Facility, order: Order, secret_key: str
) -> list[TicketOut]:
    lines = {line.id: line for line in order.lines}
    products = await _products(session, {t.product_id for t in order.tickets})
    result = []
    position: dict[int, int] = {}  # tickets seen so far per order line
    book_id: int | None = None
    for ticket in order.tickets:  # in id order, i.e. the order they were issued in
        line = lines[ticket.order_line_id]
        product = products[ticket.product_id]
        index = position[line.id] = position.get(line.id, -1) + 1
        # Tear-off coupons were issued book by book: N consecutive tickets of the line
        # per book bought. The book is named by its first ticket's id.
        coupon_no = coupon_count = 0
        # uses_total == 1 keeps books sold before the product was switched to tear-off whole.
        tear_off = product.kind == "coupon_book" and product.coupon_tear_off
        if tear_off and product.uses > 1 and ticket.uses_total == 1:
            coupon_no, coupon_count = index % product.uses + 1, product.uses
            if coupon_no == 1:
                book_id = ticket.id
        result.append(
            TicketOut(
                id=ticket.id,
                status=ticket.status,
                product_kind=products[ticket.product_id].kind,
                product_name_ja=line.product_name_ja,
                product_name_en=line.product_name_en,
                category_name_ja=line.category_name_ja,
                category_name_en=line.category_name_en,
                price=line.unit_price + line.handling_fee,
                tax_rate=line.tax_rate,
                valid_from=ticket.valid_from,
                valid_until=ticket.valid_until,
                uses_total=ticket.uses_total,
                uses_left=ticket.uses_left,
                qr_token=ticket_token(facility, ticket, secret_key),
                book_id=book_id if coupon_no else None,
                coupon_no=coupon_no,
                coupon_count=coupon_count,
                slot=ticket.slot,
                holder_name=ticket.holder_name,
            )
        )
    return result
