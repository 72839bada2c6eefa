"""``GET /api/v1/passes/export.zip``: the annual pass export (F16) for card printers."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import utcnow
from core_service.orders.pass_export import export_passes
from core_service.platform.guards import requires_role
from core_service.platform.principals import StaffPrincipal
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant


class PassExportController(Controller):
    path = "/api/v1/passes"
    # Holder names and birth dates: not for staff or viewers.
    guards = [requires_role("manager")]

    @get("/export.zip")
    async def export_zip(
        self,
        request: Request[StaffPrincipal, Any, Any],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        body = await export_passes(
            db_session, tenant, actor=f"staff:{request.user.id}", secret_key=settings.secret_key
        )
        stamp = utcnow().strftime("%Y%m%d-%H%M%S")
        return Response(
            body,
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="passes-{stamp}.zip"',
                "Cache-Control": "no-store",
            },
        )
