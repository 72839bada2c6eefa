"""Uploading scans a gate decided offline, and reconciling them with the server's log.

Each uploaded scan is recorded once per device and nonce (:class:`OfflineScan`): a
nonce seen before is answered ``duplicate`` and changes nothing, so a gate may upload
its queue again after a lost answer. A new scan writes a check-in row with the gate's own
time. A ticket the gate admitted is used on the server the way an online scan uses it
(one conditional UPDATE, so it races online scans safely); when that fails because the
ticket was already used, cancelled or handed on meanwhile, the visitor has still gone
through: the scan is logged with result ``conflict`` and a :class:`GateConflict` row
lists it for staff (``GET /api/v1/gate-conflicts``) beside the admission it collides
with. Nothing is dropped. Admitted scans that take no use online take none here either
(:func:`core_service.checkin.rules.offline_takes_use`): exits, rides on day tickets, a
coupon book at an entry, a re-entry after an exit of that day.

Two uploads racing with the same nonce: the unique constraint refuses the second, whose
transaction rolls back whole (409); the gate keeps its queue and the retry answers
``duplicate``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core_service.checkin.rules import offline_takes_use
from core_service.checkin.service import DIRECTIONS, announce_redeemed
from core_service.models import CheckIn, Device, GateConflict, OfflineScan, Product, Ticket, utcnow
from core_service.models.operations import CHECKIN_RESULTS
from core_service.orders import states as order_states
from core_service.platform.errors import Conflict, InvalidInput
from core_service.platform.tenancy import Tenant
from core_service.webhooks import outbox
from kippu_contract.states import TicketStatus
from kippu_contract.tokens import KIND_TICKET, InvalidToken, verify_token
from kippu_contract.v1.gate_offline import (
    GateConflictListOut,
    GateConflictOut,
    OfflineScanIn,
    OfflineScanOutcome,
    OfflineUploadIn,
    OfflineUploadOut,
)

#: How far ahead of the server's clock a gate's scan time may be (clock drift).
CLOCK_SLACK = dt.timedelta(minutes=5)

CONFLICT_MESSAGES = {
    "double_admission": ("同じチケットで2回入場しました", "The same ticket was admitted twice"),
    "cancelled": ("キャンセル済みのチケットで入場しました", "A cancelled ticket was admitted"),
    "superseded": (
        "譲渡前の古いQRコードで入場しました",
        "An old code of a handed-on ticket was admitted",
    ),
    "invalid": ("検証できないQRコードで入場しました", "A code that does not verify was admitted"),
}


@dataclass(frozen=True, slots=True)
class _Applied:
    checkin: CheckIn
    ticket: Ticket | None
    conflict: str | None = None
    earlier: CheckIn | None = None
    #: Whether the scan used the ticket (exits, re-entries and free rides do not).
    used: bool = False


async def upload_offline_scans(
    session: AsyncSession, tenant: Tenant, device_id: int, upload: OfflineUploadIn
) -> OfflineUploadOut:
    """Record the scans of ``upload`` not recorded before; see the module docstring."""
    now = utcnow()
    for position, scan in enumerate(upload.scans):
        _check(position, scan, now)
    seen = set(
        await session.scalars(
            sa.select(OfflineScan.nonce).where(
                OfflineScan.device_id == device_id,
                OfflineScan.nonce.in_({s.nonce for s in upload.scans}),
            )
        )
    )
    outcomes: list[OfflineScanOutcome] = []
    redeemed: list[tuple[Ticket, str]] = []
    # Oldest first, so the first of two offline admissions is the one that uses the ticket.
    for scan in sorted(upload.scans, key=lambda s: s.scanned_at):
        if scan.nonce in seen:
            outcomes.append(OfflineScanOutcome(scan.nonce, "duplicate"))
            continue
        seen.add(scan.nonce)
        applied = await _apply(session, tenant, device_id, scan)
        record = OfflineScan(
            facility_id=tenant.id,
            device_id=device_id,
            nonce=scan.nonce,
            token=scan.token,
            direction=scan.direction,
            scanned_at=scan.scanned_at,
            offline_result=scan.result,
            uploaded_at=now,
            checkin_id=applied.checkin.id,
            ticket_id=applied.ticket.id if applied.ticket else None,
        )
        session.add(record)
        await session.flush()
        if applied.conflict is not None:
            session.add(
                GateConflict(
                    facility_id=tenant.id,
                    ticket_id=record.ticket_id,
                    offline_scan_id=record.id,
                    earlier_checkin_id=applied.earlier.id if applied.earlier else None,
                    kind=applied.conflict,
                    detected_at=now,
                )
            )
        elif applied.used and applied.ticket:
            redeemed.append((applied.ticket, scan.direction))
        outcomes.append(OfflineScanOutcome(scan.nonce, "recorded", applied.conflict))
    for ticket, direction in redeemed:
        await outbox.record_redemptions(
            session, tenant, [ticket], direction=direction, gate_id=device_id
        )
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(
            "Another upload of these scans is in progress; send them again.",
            "同じスキャンを別の送信が処理中です。もう一度送信してください。",
        ) from exc
    for ticket, direction in redeemed:
        await announce_redeemed(tenant, [ticket], direction, device_id)
    recorded = [o for o in outcomes if o.status == "recorded"]
    return OfflineUploadOut(
        recorded=len(recorded),
        duplicates=len(outcomes) - len(recorded),
        conflicts=sum(1 for o in recorded if o.conflict),
        scans=outcomes,
    )


def _check(position: int, scan: OfflineScanIn, now: dt.datetime) -> None:
    """Refuse the whole upload for one malformed scan, so the gate keeps its queue."""
    where = f"scans[{position}]"
    if scan.direction not in DIRECTIONS:
        raise InvalidInput(
            f"{where}.direction must be one of {', '.join(DIRECTIONS)}.",
            f"{where}.direction は {', '.join(DIRECTIONS)} のいずれかです。",
        )
    if scan.result not in CHECKIN_RESULTS:
        raise InvalidInput(
            f"{where}.result must be one of {', '.join(CHECKIN_RESULTS)}.",
            f"{where}.result は {', '.join(CHECKIN_RESULTS)} のいずれかです。",
        )
    if scan.scanned_at.tzinfo is None:
        raise InvalidInput(
            f"{where}.scanned_at needs a time zone offset.",
            f"{where}.scanned_at にはタイムゾーンが必要です。",
        )
    if scan.scanned_at > now + CLOCK_SLACK:
        raise InvalidInput(
            f"{where}.scanned_at is in the future; check the gate's clock.",
            f"{where}.scanned_at が未来の時刻です。端末の時計を確認してください。",
        )


async def _apply(
    session: AsyncSession, tenant: Tenant, device_id: int, scan: OfflineScanIn
) -> _Applied:
    """Write the check-in row of one new offline scan, using the ticket if it admitted."""
    scanned_at = scan.scanned_at.astimezone(dt.UTC)
    ticket, problem = await _ticket_of(session, tenant, scan.token.strip())
    result, reason = scan.result, "offline"
    conflict: str | None = None
    earlier: CheckIn | None = None
    used = False
    if scan.result == "admitted" and scan.direction != "exit":
        if problem is not None:
            conflict = problem
        else:
            assert ticket is not None  # no problem means a ticket
            product = await session.get(Product, ticket.product_id)
            assert product is not None
            takes_use = await offline_takes_use(
                session, tenant, ticket, product, scan.direction, scanned_at
            )
            used = takes_use and await _use(session, tenant, ticket, scan.direction, scanned_at)
            if takes_use and not used:
                conflict = "double_admission"
                earlier = await _earlier_admission(session, tenant, ticket.id, scan.direction)
        if conflict is not None:
            result, reason = "conflict", f"offline {conflict}"
    checkin = CheckIn(
        facility_id=tenant.id,
        ticket_id=ticket.id if ticket else None,
        device_id=device_id,
        direction=scan.direction,
        result=result,
        reason=reason,
        scanned_at=scanned_at,
    )
    session.add(checkin)
    await session.flush()
    if ticket is not None:
        await session.refresh(ticket)
    return _Applied(checkin, ticket, conflict, earlier, used)


async def _ticket_of(
    session: AsyncSession, tenant: Tenant, token: str
) -> tuple[Ticket | None, str | None]:
    """The scanned ticket and, if it may not be admitted whatever its use, the conflict."""
    try:
        claim = verify_token(token, tenant.facility.signing_public_key)
    except InvalidToken:
        return None, "invalid"
    if claim.facility_id != tenant.id or claim.kind != KIND_TICKET:
        return None, "invalid"
    ticket = await session.scalar(
        sa.select(Ticket).where(Ticket.id == claim.subject_id, Ticket.facility_id == tenant.id)
    )
    if ticket is None:
        return None, "invalid"
    if claim.secret_version != ticket.secret_version:
        return ticket, "superseded"
    if ticket.status == TicketStatus.CANCELLED:
        return ticket, "cancelled"
    return ticket, None


async def _use(
    session: AsyncSession, tenant: Tenant, ticket: Ticket, direction: str, at: dt.datetime
) -> bool:
    """Use the ticket once as of ``at``; a pass admits once on that facility-local day."""
    product = await session.get(Product, ticket.product_id)
    if product is None or product.kind != "annual_pass":
        return await order_states.use_ticket(session, tenant.id, ticket.id, at)
    # Lock the pass's row first (as online scans do), then look for that day's entry.
    await session.execute(
        sa.update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.facility_id == tenant.id)
        .values(first_used_at=sa.func.coalesce(Ticket.first_used_at, at))
        .execution_options(synchronize_session=False)
    )
    zone = ZoneInfo(tenant.facility.timezone)
    day = at.astimezone(zone).date()
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)
    end = start + dt.timedelta(days=1)
    entered = await session.scalar(
        sa.select(sa.func.count(CheckIn.id)).where(
            CheckIn.facility_id == tenant.id,
            CheckIn.ticket_id == ticket.id,
            CheckIn.direction == direction,
            CheckIn.result == "admitted",
            CheckIn.scanned_at >= start,
            CheckIn.scanned_at < end,
        )
    )
    return not entered


async def _earlier_admission(
    session: AsyncSession, tenant: Tenant, ticket_id: int, direction: str
) -> CheckIn | None:
    return await session.scalar(
        sa.select(CheckIn)
        .where(
            CheckIn.facility_id == tenant.id,
            CheckIn.ticket_id == ticket_id,
            CheckIn.direction == direction,
            CheckIn.result == "admitted",
        )
        .order_by(CheckIn.scanned_at.desc(), CheckIn.id.desc())
        .limit(1)
    )


async def list_conflicts(session: AsyncSession, tenant: Tenant) -> GateConflictListOut:
    """The facility's gate conflicts, newest first."""
    earlier = aliased(CheckIn)
    rows = (
        await session.execute(
            sa.select(GateConflict, OfflineScan, Device.name, earlier.scanned_at)
            .join(OfflineScan, OfflineScan.id == GateConflict.offline_scan_id)
            .join(Device, Device.id == OfflineScan.device_id)
            .outerjoin(earlier, earlier.id == GateConflict.earlier_checkin_id)
            .where(GateConflict.facility_id == tenant.id)
            .order_by(GateConflict.detected_at.desc(), GateConflict.id.desc())
        )
    ).all()
    return GateConflictListOut(conflicts=[_conflict_out(*row) for row in rows])


def _conflict_out(
    conflict: GateConflict, scan: OfflineScan, device_name: str, earlier_at: dt.datetime | None
) -> GateConflictOut:
    ja, en = CONFLICT_MESSAGES[conflict.kind]
    return GateConflictOut(
        id=conflict.id,
        kind=conflict.kind,
        ticket_id=conflict.ticket_id,
        device_id=scan.device_id,
        device_name=device_name,
        nonce=scan.nonce,
        direction=scan.direction,
        scanned_at=scan.scanned_at,
        uploaded_at=scan.uploaded_at,
        earlier_checkin_id=conflict.earlier_checkin_id,
        earlier_scanned_at=earlier_at,
        detected_at=conflict.detected_at,
        message_ja=ja,
        message_en=en,
    )
