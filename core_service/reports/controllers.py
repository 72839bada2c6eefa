"""``GET /api/v1/reports/sales``: the core's own sales figures (managers and owners)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.platform.errors import InvalidInput
from core_service.platform.guards import requires_role
from core_service.platform.tenancy import Tenant
from core_service.reports.schemas import SalesReportOut, SalesRowOut
from core_service.reports.service import MAX_DAYS, sales_rows


class ReportController(Controller):
    path = "/api/v1/reports"
    guards = [requires_role("manager")]

    @get("/sales")
    async def sales(
        self,
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        date_from: Annotated[dt.date, QueryParameter(name="from")],
        date_to: Annotated[dt.date, QueryParameter(name="to")],
    ) -> SalesReportOut:
        """Sales per day, channel, payment method and product, for ``from``..``to``."""
        if date_to < date_from or (date_to - date_from).days >= MAX_DAYS:
            raise InvalidInput(
                f"'to' must be on or after 'from', at most {MAX_DAYS} days apart.",
                f"期間は開始日以降、{MAX_DAYS}日以内で指定してください。",
            )
        figures = await sales_rows(db_session, tenant.facility, date_from, date_to)
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
            timezone=tenant.facility.timezone,
            total_amount=sum(r.amount for r in rows),
            total_quantity=sum(r.quantity for r in rows),
            rows=rows,
        )
