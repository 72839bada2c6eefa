"""``GET /api/v1/reports/sales``: the core's own sales figures (managers and owners)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.platform.guards import requires_role
from core_service.platform.tenancy import Tenant
from core_service.reports.sales_report import sales_report
from core_service.reports.schemas import SalesReportOut


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
        return await sales_report(db_session, tenant.facility, date_from, date_to)
