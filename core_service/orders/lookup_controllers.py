"""``GET /api/v1/orders/lookup?q=``: find orders by code or customer e-mail (F21).

Every staff role may look up orders; what personal data it sees is decided here, by
``can_see_personal_data``: viewers get the customer's e-mail and name masked. Cancelling
and refunding are separate routes of the cancellation feature.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Customer, Order, Payment
from core_service.orders.schemas import (
    LookupLineOut,
    LookupOrderOut,
    LookupPaymentOut,
    LookupTicketOut,
)
from core_service.platform.guards import requires_role
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


class OrderLookupController(Controller):
    path = "/api/v1/orders"
    guards = [requires_role("viewer")]

    @get("/lookup")
    async def lookup(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        q: Annotated[str, QueryParameter(min_length=3, max_length=254)],
    ) -> list[LookupOrderOut]:
        query = q.strip()
        stmt = (
            sa.select(Order, Customer)
            .outerjoin(Customer, Customer.id == Order.customer_id)
            .where(Order.facility_id == tenant.id)
        )
        if "@" in query:
            stmt = stmt.where(Customer.email == query.lower())
        else:
            stmt = stmt.where(Order.code == query.upper())
        rows = (await db_session.execute(stmt.order_by(Order.id.desc()).limit(MAX_RESULTS))).all()
        payments: dict[int, list[Payment]] = {}
        if rows:
            for p in await db_session.scalars(
                sa.select(Payment)
                .where(
                    Payment.facility_id == tenant.id, Payment.order_id.in_([o.id for o, _ in rows])
                )
                .order_by(Payment.id)
            ):
                payments.setdefault(p.order_id, []).append(p)
        full = can_see_personal_data(request.user.role)
        return [
            _order_out(order, customer, payments.get(order.id, []), full)
            for order, customer in rows
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
