"""``GET`` and ``PUT /api/v1/facility/settings`` (owners and managers, F17), and the
facility's audit log (``GET /api/v1/audit``).

What the settings are and how a change is checked and audited:
:mod:`core_service.facilities.configuration`.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, put
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.facilities.audit import audit_page
from core_service.facilities.configuration import facility_settings, update_facility_settings
from core_service.facilities.schemas import FacilitySettingsIn, FacilitySettingsOut
from core_service.platform.guards import requires_role
from core_service.platform.principals import StaffPrincipal
from core_service.platform.tenancy import Tenant
from core_service.plugins.host import PluginHost
from kippu_contract.v1.staff import AuditPageOut


class FacilitySettingsController(Controller):
    path = "/api/v1/facility/settings"
    guards = [requires_role("manager")]

    @get("/")
    async def read(
        self,
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        plugin_host: NamedDependency[PluginHost],
    ) -> FacilitySettingsOut:
        return await facility_settings(db_session, tenant, plugin_host)

    @put("/")
    async def update(
        self,
        request: Request[StaffPrincipal, Any, Any],
        data: JSONBody[FacilitySettingsIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        plugin_host: NamedDependency[PluginHost],
    ) -> FacilitySettingsOut:
        return await update_facility_settings(
            db_session, tenant, plugin_host, data, actor=request.user.email
        )


class AuditController(Controller):
    """``GET /api/v1/audit?limit=&before=``: the facility's audit log, newest first."""

    path = "/api/v1/audit"
    guards = [requires_role("manager")]

    @get("/")
    async def entries(
        self,
        request: Request[StaffPrincipal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        limit: FromQuery[int] = 50,
        before: FromQuery[int | None] = None,
    ) -> AuditPageOut:
        return await audit_page(db_session, request.user.facility_id, limit=limit, before=before)
