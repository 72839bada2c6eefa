"""The sales report as the staff API answers it: checked period, rows and totals."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Facility
from core_service.platform.errors import InvalidInput
from core_service.reports.schemas import SalesReportOut, SalesRowOut
from core_service.reports.service import MAX_DAYS, sales_rows


async def sales_report(
    session: AsyncSession, facility: Facility, date_from: dt.date, date_to: dt.date
) -> SalesReportOut:
    """Sales per day, channel, payment method and product, for ``from``..``to``.

    The period runs forwards and spans at most ``MAX_DAYS`` days (422 otherwise)."""
    if date_to < date_from or (date_to - date_from).days >= MAX_DAYS:
        raise InvalidInput(
            f"'to' must be on or after 'from', at most {MAX_DAYS} days apart.",
            f"期間は開始日以降、{MAX_DAYS}日以内で指定してください。",
        )
    figures = await sales_rows(session, facility, date_from, date_to)
    rows = [
        SalesRowOut(
            day=k.day,
            channel=k.channel,
            method=k.method,
            product_id=k.product_id,
            quantity=v.quantity,
            amount=v.amount,
        )
        for k, v in figures.items()
    ]
    return SalesReportOut(
        date_from=date_from,
        date_to=date_to,
        timezone=facility.timezone,
        total_amount=sum(r.amount for r in rows),
        total_quantity=sum(r.quantity for r in rows),
        rows=rows,
    )
