"""``/api/v1/billing/statements``: the facility's monthly system-fee statements (F26).

Owners only: what the facility pays the platform is the owner's business, not the
managers'. Each statement is also a PDF and a CSV. Statements are issued by the
``issue_statements`` job and ``kippu billing issue``, never by a download.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.billing.documents import statement_csv, statement_pdf
from core_service.billing.statements import Month, find_statement, statements_of
from core_service.models import SystemFeeStatement
from core_service.platform.errors import NotFound
from core_service.platform.guards import requires_role
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from kippu_contract.v1.staff import StatementLineOut, StatementOut


def statement_out(statement: SystemFeeStatement) -> StatementOut:
    return StatementOut(
        number=statement.number,
        month=statement.month,
        lines=[StatementLineOut(**line) for line in statement.lines],
        subtotal=statement.subtotal,
        tax_rate=statement.tax_rate,
        tax=statement.tax,
        total=statement.total,
        issued_at=statement.issued_at,
    )


class BillingController(Controller):
    path = "/api/v1/billing"
    guards = [requires_role("owner")]

    @get("/statements")
    async def statements(
        self, tenant: NamedDependency[Tenant], db_session: NamedDependency[AsyncSession]
    ) -> list[StatementOut]:
        """Newest month first."""
        return [statement_out(s) for s in await statements_of(db_session, tenant.id)]

    async def _one(self, session: AsyncSession, tenant: Tenant, month: str) -> SystemFeeStatement:
        found = await find_statement(session, tenant.id, str(Month.parse(month)))
        if found is None:
            raise NotFound("No statement for that month.", "その月の請求書はありません。")
        return found

    @get("/statements/{month:str}/pdf")
    async def statement_pdf(
        self,
        month: FromPath[str],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        statement = await self._one(db_session, tenant, month)
        body = statement_pdf(
            statement,
            tenant.facility,
            platform_name=settings.platform_name,
            registration_number=settings.platform_registration_number,
        )
        return _download(body, "application/pdf", f"{statement.number}.pdf")

    @get("/statements/{month:str}/csv")
    async def statement_csv(
        self,
        month: FromPath[str],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        statement = await self._one(db_session, tenant, month)
        body = statement_csv(statement, tenant.facility)
        return _download(body, "text/csv; charset=utf-8", f"{statement.number}.csv")


def _download(body: bytes, media_type: str, filename: str) -> Response[Any]:
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
