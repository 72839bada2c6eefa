"""Sales figures (F20) straight from the OLTP tables.

The definition is the one in ``docs/exports.md`` ("Sales definitions"), shared with the
workbench's DuckDB query over the exports: order lines of paid orders, dated by the order's
``paid_at`` in the facility's time zone, amount ``line_total`` (yen, tax included), method
of the newest (highest id) paid payment of the order, or ``none``. The two must agree to
the yen; ``tests/core/reports/test_reports.py`` checks that they do.
"""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Facility, Order, OrderLine, Payment
from kippu_contract.facility_time import local_bounds
from kippu_contract.states import OrderStatus, PaymentState
from kippu_contract.v1.staff import NO_PAYMENT_METHOD

#: Longest range one report may cover; keeps one request's work bounded.
MAX_DAYS = 366


@dataclass(frozen=True, slots=True, order=True)
class SalesKey:
    """The finest breakdown: every other view of the figures sums these rows."""

    day: dt.date
    channel: str
    method: str
    product_id: int


@dataclass(frozen=True, slots=True)
class SalesFigure:
    quantity: int
    amount: int


async def sales_rows(
    session: AsyncSession, facility: Facility, day_from: dt.date, day_to: dt.date
) -> dict[SalesKey, SalesFigure]:
    """Quantity and amount per (day, channel, method, product) of one facility."""
    start, end = local_bounds(day_from, day_to, facility.timezone)
    zone = ZoneInfo(facility.timezone)
    lines = (
        await session.execute(
            sa.select(
                Order.id,
                Order.channel,
                Order.paid_at,
                OrderLine.product_id,
                OrderLine.quantity,
                OrderLine.line_total,
            )
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(
                Order.facility_id == facility.id,
                OrderLine.facility_id == facility.id,
                Order.status == OrderStatus.PAID,
                Order.paid_at >= start,
                Order.paid_at < end,
            )
        )
    ).all()
    order_ids = sorted({row[0] for row in lines})
    methods: dict[int, tuple[int, str]] = {}
    # Chunked IN lists: SQLite limits bound parameters per statement.
    for i in range(0, len(order_ids), 500):
        chunk = order_ids[i : i + 500]
        for pid, oid, method in await session.execute(
            sa.select(Payment.id, Payment.order_id, Payment.method).where(
                Payment.facility_id == facility.id,
                Payment.state == PaymentState.PAID,
                Payment.order_id.in_(chunk),
            )
        ):
            if oid not in methods or pid > methods[oid][0]:
                methods[oid] = (pid, method)
    sums: dict[SalesKey, list[int]] = collections.defaultdict(lambda: [0, 0])
    for oid, channel, paid_at, product_id, quantity, line_total in lines:
        assert paid_at is not None  # the query selects paid orders only
        key = SalesKey(
            day=paid_at.astimezone(zone).date(),
            channel=channel,
            method=methods.get(oid, (0, NO_PAYMENT_METHOD))[1],
            product_id=product_id,
        )
        sums[key][0] += quantity
        sums[key][1] += line_total
    return {k: SalesFigure(quantity=v[0], amount=v[1]) for k, v in sorted(sums.items())}
