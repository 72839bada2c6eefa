"""The offline bundle: what a gate needs to keep deciding when the network is gone.

A gate fetches it while online and keeps it (the scanner page stores it in the
browser). It holds the facility's Ed25519 public key, so the gate verifies K1 tokens
itself (docs/qr-tokens.md); the tickets valid on the facility's local today, with their
current secret version, uses left, whether they are passes, what the gate rules need
(the product's kind and flags, the slot, the last passage of the day on the server); and
the revocation list:
cancelled tickets and the superseded versions of handed-on ones. Group codes and time
stays are not in it: they need the server (docs/gates.md, docs/stays.md).

The server stays the authority: what the gate decided offline is uploaded and
reconciled by :mod:`core_service.checkin.conflicts`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.checkin.rules import last_passages
from core_service.models import Product, Ticket, utcnow
from core_service.platform.tenancy import Tenant
from kippu_contract.admission import ProductKind
from kippu_contract.facility_time import facility_today
from kippu_contract.states import TicketStatus
from kippu_contract.v1.gate_offline import BundleTicket, OfflineBundle, RevokedCode


async def offline_bundle(session: AsyncSession, tenant: Tenant) -> OfflineBundle:
    """The bundle for ``tenant``'s gates, for the facility's local today."""
    today = facility_today(tenant.facility.timezone)
    rows = (
        await session.execute(
            sa.select(Ticket, Product)
            .join(Product, Product.id == Ticket.product_id)
            .where(
                Ticket.facility_id == tenant.id,
                Ticket.valid_from <= today,
                Ticket.valid_until >= today,
                # A time stay's clock and charge live on the server (checkin.stays): an
                # offline gate refuses its ticket as not in the bundle.
                Product.kind != ProductKind.TIME_STAY,
            )
            .order_by(Ticket.id)
        )
    ).all()
    passages = await last_passages(session, tenant, today)
    tickets: list[BundleTicket] = []
    revoked: list[RevokedCode] = []
    for ticket, product in rows:
        if ticket.status == TicketStatus.CANCELLED:
            # Every code of a cancelled ticket is revoked; it is not in the ticket list.
            revoked.append(RevokedCode(ticket.id, ticket.secret_version + 1, "cancelled"))
            continue
        if ticket.secret_version > 1:
            revoked.append(RevokedCode(ticket.id, ticket.secret_version, "handed_on"))
        tickets.append(
            BundleTicket(
                id=ticket.id,
                secret_version=ticket.secret_version,
                status=ticket.status,
                is_pass=product.kind == "annual_pass",
                uses_left=ticket.uses_left,
                valid_from=ticket.valid_from,
                valid_until=ticket.valid_until,
                product_name_ja=product.name_ja,
                product_name_en=product.name_en,
                kind=product.kind,
                reentry_after_exit=product.reentry_after_exit,
                rides_use_ticket=product.rides_use_ticket,
                slot=ticket.slot or "",
                slot_grace_minutes=product.slot_grace_minutes,
                last_passage=passages.get(ticket.id, ""),
                holder_name=ticket.holder_name or "",
            )
        )
    return OfflineBundle(
        facility_id=tenant.id,
        facility=tenant.facility.slug,
        timezone=tenant.facility.timezone,
        algorithm="Ed25519",
        public_key=tenant.facility.signing_public_key,
        valid_on=today,
        generated_at=utcnow(),
        tickets=tickets,
        revoked=revoked,
    )
