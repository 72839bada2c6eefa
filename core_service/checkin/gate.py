"""A scan at a gate, as the gate API answers it; and the key gates verify tokens with.

This is the gate's hot path (see docs/benchmarks.md): it adds nothing to
:func:`core_service.checkin.service.scan` but the direction check and the answer struct.
"""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.checkin.schemas import PublicKeyOut, ScanIn, ScanOut, ScanTicketOut
from core_service.checkin.service import DIRECTIONS, ScanResult, scan
from core_service.models.catalog import PassHolder
from core_service.platform.errors import InvalidInput, NotFound
from core_service.platform.tenancy import Tenant, load_tenant
from core_service.plugins.host import PluginHost


class GateScanOut(ScanOut):
    """The scan answer; the fields below extend ``ScanOut`` without changing it.

    ``admitted_count`` is how many people may pass (0 or 1 for a ticket code; the number of
    tickets admitted for a group code), so a turnstile can count them through.
    ``amount_due`` is what a time stay owes before its exit (result ``payment_due``).
    """

    admitted_count: int = 0
    group: bool = False
    order_code: str | None = None
    admitted_ticket_ids: list[int] = msgspec.field(default_factory=list)
    amount_due: int = 0


async def scan_at_gate(
    session: AsyncSession, tenant: Tenant, device_id: int, request: ScanIn
) -> GateScanOut:
    """Check the scanned token in ``request.direction`` and say whether to open."""
    if request.direction not in DIRECTIONS:
        raise InvalidInput(f"direction must be one of {', '.join(DIRECTIONS)}.")
    outcome = await scan(session, tenant, request.token.strip(), request.direction, device_id)
    return _scan_out(outcome)


def _scan_out(outcome: ScanResult) -> GateScanOut:
    ticket = None
    if outcome.ticket is not None and outcome.product is not None:
        ticket = ScanTicketOut(
            id=outcome.ticket.id,
            product_name_ja=outcome.product.name_ja,
            product_name_en=outcome.product.name_en,
            uses_left=outcome.ticket.uses_left,
            valid_from=outcome.ticket.valid_from,
            valid_until=outcome.ticket.valid_until,
            holder_name=outcome.holder_name or None,
            holder_photo_url=holder_photo_path(outcome.ticket.id) if outcome.holder_photo else None,
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
        amount_due=outcome.due,
    )


def holder_photo_path(ticket_id: int) -> str:
    return f"/api/v1/gate/holders/{ticket_id}/photo"


async def holder_photo(session: AsyncSession, tenant: Tenant, ticket_id: int) -> tuple[bytes, str]:
    """The photo of a ticket's holder and its media type, for a gate of the same facility."""
    row = (
        await session.execute(
            sa.select(PassHolder.photo, PassHolder.photo_type).where(
                PassHolder.facility_id == tenant.id,
                PassHolder.ticket_id == ticket_id,
                PassHolder.photo.is_not(None),
            )
        )
    ).first()
    if row is None or not row.photo:
        raise NotFound("No holder photo for this ticket.", "この券の所有者の写真はありません。")
    return row.photo, row.photo_type or "application/octet-stream"


async def public_key(session: AsyncSession, host: PluginHost, slug: str) -> PublicKeyOut:
    """The facility's Ed25519 public key, for gates that verify tokens offline."""
    tenant = await load_tenant(session, host, slug=slug)
    return PublicKeyOut(
        facility=tenant.facility.slug,
        algorithm="Ed25519",
        public_key=tenant.facility.signing_public_key,
        token_format="K1.<base64url(claim[18] || signature[64])>; see docs/qr-tokens.md",
    )
