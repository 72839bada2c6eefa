"""Scanning a ticket at a gate: verify the signature, then use it atomically.

The signature check needs only the facility's public key; whether the ticket is still
unused is decided by one conditional UPDATE, so two gates scanning the same QR at the
same moment admit it once. Every scan, admitted or refused, is logged.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..clock import facility_today
from ..models import CheckIn, Product, Ticket, utcnow
from ..plugin_api import Redemption
from ..tenancy import Tenant
from ..tickets.qr_token import KIND_TICKET, InvalidToken, read_claim, verify_token

DIRECTIONS = ("entry", "exit", "ride")

MESSAGES = {
    "admitted": ("入場できます", "Admitted"),
    "already_used": ("使用済みのチケットです", "Ticket already used"),
    "invalid": ("無効なQRコードです", "Invalid QR code"),
    "cancelled": ("キャンセルされたチケットです", "Ticket cancelled"),
    "not_valid_today": ("本日は有効ではありません", "Not valid today"),
    "wrong_facility": ("他の施設のチケットです", "Ticket for another facility"),
}


@dataclass(frozen=True, slots=True)
class ScanResult:
    result: str
    ticket: Ticket | None = None
    product: Product | None = None

    @property
    def admitted(self) -> bool:
        return self.result == "admitted"

    def message(self, locale: str) -> str:
        ja, en = MESSAGES[self.result]
        return ja if locale == "ja" else en


async def scan(
    session: AsyncSession, tenant: Tenant, token: str, direction: str, device_id: int | None
) -> ScanResult:
    outcome, reason = await _decide(session, tenant, token, direction)
    session.add(
        CheckIn(
            facility_id=tenant.id,
            ticket_id=outcome.ticket.id if outcome.ticket else None,
            device_id=device_id,
            direction=direction,
            result=outcome.result,
            reason=reason,
            scanned_at=utcnow(),
        )
    )
    await session.commit()
    if outcome.admitted and outcome.ticket is not None:
        await tenant.plugins.ticket_redeemed(
            Redemption(
                ticket_id=outcome.ticket.id,
                order_id=outcome.ticket.order_id,
                product_id=outcome.ticket.product_id,
                direction=direction,
                uses_left=outcome.ticket.uses_left,
                device_id=device_id,
            )
        )
    return outcome


async def _decide(
    session: AsyncSession, tenant: Tenant, token: str, direction: str
) -> tuple[ScanResult, str]:
    try:
        claim = read_claim(token)
    except InvalidToken as exc:
        return ScanResult("invalid"), str(exc)
    if claim.facility_id != tenant.id:
        return ScanResult("wrong_facility"), f"facility {claim.facility_id}"
    try:
        verify_token(token, tenant.facility.signing_public_key)
    except InvalidToken as exc:
        return ScanResult("invalid"), str(exc)
    if claim.kind != KIND_TICKET:
        return ScanResult("invalid"), "not a ticket code"
    ticket = await session.scalar(
        sa.select(Ticket).where(Ticket.id == claim.subject_id, Ticket.facility_id == tenant.id)
    )
    if ticket is None or ticket.secret_version != claim.secret_version:
        return ScanResult("invalid", None), "superseded or unknown ticket"
    product = await session.get(Product, ticket.product_id)
    if ticket.status == "cancelled":
        return ScanResult("cancelled", ticket, product), ""
    today = facility_today(tenant.facility.timezone)
    if not ticket.valid_from <= today <= ticket.valid_until:
        return ScanResult("not_valid_today", ticket, product), f"valid {ticket.valid_from}"
    if direction == "exit":
        return ScanResult("admitted", ticket, product), "exit"
    if not await _use_once(session, tenant, ticket):
        return ScanResult("already_used", ticket, product), ""
    await session.refresh(ticket)
    return ScanResult("admitted", ticket, product), ""


async def _use_once(session: AsyncSession, tenant: Tenant, ticket: Ticket) -> bool:
    now = utcnow()
    result = await session.execute(
        sa.update(Ticket)
        .where(
            Ticket.id == ticket.id,
            Ticket.facility_id == tenant.id,
            Ticket.status == "valid",
            Ticket.uses_left > 0,
        )
        .values(
            uses_left=Ticket.uses_left - 1,
            status=sa.case((Ticket.uses_left == 1, "used"), else_=Ticket.status),
            first_used_at=sa.func.coalesce(Ticket.first_used_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
