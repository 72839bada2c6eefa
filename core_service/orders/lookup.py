"""Finding orders by code or customer e-mail for staff (F21), with personal data masked.

Every staff role may look up orders; what personal data it sees is decided here, by the
role (``can_see_personal_data``): viewers get the customer's e-mail and name masked, and
no role sees holder names in a lookup. Cancelling and refunding are separate routes of the
cancellation feature.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Customer, Order, Payment
from core_service.orders.schemas import (
    LookupLineOut,
    LookupOrderOut,
    LookupPaymentOut,
    LookupTicketOut,
)
from core_service.platform.tenancy import Tenant
from kippu_contract.roles import can_see_personal_data

MAX_RESULTS = 20


def mask_email(email: str) -> str:
    """``h***@e***.jp``: enough to tell two customers apart on the phone, no more."""
    if "@" not in email:
        return "***"
    local, domain = email.split("@", 1)
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{(host or tld)[:1]}***{'.' + tld if host else ''}"


def mask_name(name: str) -> str:
    return f"{name[:1]}***" if name else ""


async def lookup_orders(
    session: AsyncSession, tenant: Tenant, query: str, *, role: str
) -> list[LookupOrderOut]:
    """The facility's newest orders whose code (or customer e-mail, given an ``@``) is
    ``query``, as the staff member of ``role`` may see them."""
    query = query.strip()
    stmt = (
        sa.select(Order, Customer)
        .outerjoin(Customer, Customer.id == Order.customer_id)
        .where(Order.facility_id == tenant.id)
    )
    if "@" in query:
        stmt = stmt.where(Customer.email == query.lower())
    else:
        stmt = stmt.where(Order.code == query.upper())
    rows = (await session.execute(stmt.order_by(Order.id.desc()).limit(MAX_RESULTS))).all()
    payments: dict[int, list[Payment]] = {}
    if rows:
        for p in await session.scalars(
            sa.select(Payment)
            .where(Payment.facility_id == tenant.id, Payment.order_id.in_([o.id for o, _ in rows]))
            .order_by(Payment.id)
        ):
            payments.setdefault(p.order_id, []).append(p)
    full = can_see_personal_data(role)
    return [
        _order_out(order, customer, payments.get(order.id, []), full) for order, customer in rows
    ]


def _order_out(
    order: Order, customer: Customer | None, payments: list[Payment], full: bool
) -> LookupOrderOut:
    email = customer.email if customer else ""
    name = customer.name if customer else ""
    return LookupOrderOut(
        code=order.code,
        channel=order.channel,
        status=order.status,
        total=order.total,
        created_at=order.created_at,
        paid_at=order.paid_at,
        customer_email=email if full else mask_email(email) if email else "",
        customer_name=name if full else mask_name(name),
        masked=not full,
        lines=[
            LookupLineOut(
                product_name_ja=line.product_name_ja,
                product_name_en=line.product_name_en,
                category_name_ja=line.category_name_ja,
                category_name_en=line.category_name_en,
                visit_date=line.visit_date,
                quantity=line.quantity,
                line_total=line.line_total,
            )
            for line in order.lines
        ],
        tickets=[
            # Holder names are personal data too; the lookup shows none of them.
            LookupTicketOut(
                id=t.id,
                status=t.status,
                valid_from=t.valid_from,
                valid_until=t.valid_until,
                uses_left=t.uses_left,
            )
            for t in order.tickets
        ],
        payments=[
            LookupPaymentOut(method=p.method, state=p.state, amount=p.amount) for p in payments
        ],
    )
