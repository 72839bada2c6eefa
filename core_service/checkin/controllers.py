"""Gate API: scan a ticket, a pass holder's photo; and the public key gates use to verify
tokens offline.

Both call :mod:`core_service.checkin.gate`.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.checkin.gate import GateScanOut, holder_photo, public_key, scan_at_gate
from core_service.checkin.schemas import PublicKeyOut, ScanIn
from core_service.platform.guards import requires_device
from core_service.platform.principals import DevicePrincipal
from core_service.platform.tenancy import Tenant
from core_service.plugins.host import PluginHost


class GateController(Controller):
    path = "/api/v1/gate"
    guards = [requires_device("gate")]

    @post("/scan", status_code=HTTP_200_OK)
    async def scan_ticket(
        self,
        request: Request[DevicePrincipal, Any, Any],
        data: JSONBody[ScanIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> GateScanOut:
        return await scan_at_gate(db_session, tenant, request.user.id, data)

    @get("/holders/{ticket_id:int}/photo")
    async def holder_photo(
        self,
        ticket_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        """The pass holder's photo, for the gate to compare with the visitor (docs/gates.md)."""
        photo, media_type = await holder_photo(db_session, tenant, ticket_id)
        # A person's photo: not kept by shared caches, nor by the browser after the shift.
        return Response(photo, media_type=media_type, headers={"Cache-Control": "no-store"})


@get("/api/v1/facilities/{slug:str}/public-key")
async def facility_public_key(
    slug: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    plugin_host: NamedDependency[PluginHost],
) -> PublicKeyOut:
    return await public_key(db_session, plugin_host, slug)
