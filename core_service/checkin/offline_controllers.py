"""Gate API for offline mode: the bundle, the upload of offline scans, and the conflicts
staff review. The rules live in :mod:`.offline` and :mod:`.conflicts`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.checkin.conflicts import list_conflicts, upload_offline_scans
from core_service.checkin.offline import offline_bundle
from core_service.platform.guards import requires_device, requires_role
from core_service.platform.principals import DevicePrincipal
from core_service.platform.tenancy import Tenant
from kippu_contract.v1.gate_offline import (
    GateConflictListOut,
    OfflineBundle,
    OfflineUploadIn,
    OfflineUploadOut,
)


class OfflineGateController(Controller):
    path = "/api/v1/gate"
    guards = [requires_device("gate")]

    @get("/offline-bundle")
    async def bundle(
        self, tenant: NamedDependency[Tenant], db_session: NamedDependency[AsyncSession]
    ) -> OfflineBundle:
        return await offline_bundle(db_session, tenant)

    @post("/offline-scans", status_code=HTTP_200_OK)
    async def upload(
        self,
        request: Request[DevicePrincipal, Any, Any],
        data: JSONBody[OfflineUploadIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> OfflineUploadOut:
        return await upload_offline_scans(db_session, tenant, request.user.id, data)


class GateConflictController(Controller):
    path = "/api/v1/gate-conflicts"
    guards = [requires_role("staff")]

    @get("/")
    async def conflicts(
        self, tenant: NamedDependency[Tenant], db_session: NamedDependency[AsyncSession]
    ) -> GateConflictListOut:
        return await list_conflicts(db_session, tenant)
