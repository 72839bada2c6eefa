"""Gate API: scan a ticket; and the public key gates use to verify tokens offline."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.checkin.schemas import PublicKeyOut, ScanIn, ScanOut, ScanTicketOut
from core_service.checkin.service import DIRECTIONS, scan
from core_service.platform.errors import InvalidInput
from core_service.platform.guards import requires_device
from core_service.platform.tenancy import Tenant, load_tenant
from core_service.plugins.host import PluginHost


class GateScanOut(ScanOut):
    """The scan answer; the fields below extend ``ScanOut`` without changing it.

    ``admitted_count`` is how many people may pass (0 or 1 for a ticket code; the number of
    tickets admitted for a group code), so a turnstile can count them through.
    """

    admitted_count: int = 0
    group: bool = False
    order_code: str | None = None
    admitted_ticket_ids: list[int] = msgspec.field(default_factory=list)


class GateController(Controller):
    path = "/api/v1/gate"
    guards = [requires_device("gate")]

    @post("/scan", status_code=HTTP_200_OK)
    async def scan_ticket(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ScanIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> GateScanOut:
        if data.direction not in DIRECTIONS:
            raise InvalidInput(f"direction must be one of {', '.join(DIRECTIONS)}.")
        outcome = await scan(
            db_session, tenant, data.token.strip(), data.direction, request.user.id
        )
        ticket = None
        if outcome.ticket is not None and outcome.product is not None:
            ticket = ScanTicketOut(
                id=outcome.ticket.id,
                product_name_ja=outcome.product.name_ja,
                product_name_en=outcome.product.name_en,
                uses_left=outcome.ticket.uses_left,
                valid_from=outcome.ticket.valid_from,
                valid_until=outcome.ticket.valid_until,
            )
        return GateScanOut(
            result=outcome.result,
            admitted=outcome.admitted,
            message_ja=outcome.message("ja"),
            message_en=outcome.message("en"),
            ticket=ticket,
            admitted_count=outcome.admitted_count,
            group=outcome.group,
            order_code=outcome.order_code or None,
            admitted_ticket_ids=[t.id for t in outcome.admitted_tickets],
        )


@get("/api/v1/facilities/{slug:str}/public-key")
async def facility_public_key(
    slug: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    plugin_host: NamedDependency[PluginHost],
) -> PublicKeyOut:
    tenant = await load_tenant(db_session, plugin_host, slug=slug)
    return PublicKeyOut(
        facility=tenant.facility.slug,
        algorithm="Ed25519",
        public_key=tenant.facility.signing_public_key,
        token_format="K1.<base64url(claim[18] || signature[64])>; see docs/qr-tokens.md",
    )
