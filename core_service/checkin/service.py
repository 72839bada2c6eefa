"""Scanning a ticket at a gate: verify the signature, then use it atomically.

The signature check needs only the facility's public key; whether the ticket is still
unused is decided by one conditional UPDATE, so two gates scanning the same QR at the
same moment admit it once. Every scan, admitted or refused, is logged; a scan that used
tickets (an entry or a ride, not an exit) writes their ``ticket.redeemed`` webhooks in
the same transaction.

A group code (F3, ``KIND_ORDER_GROUP``) admits every unused admission ticket of a paid
order in one scan: each ticket is used by its own conditional UPDATE and gets its own
check-in row, so a group scan racing a single-ticket scan still admits each ticket once.
Tickets the buyer handed on to a companion are not part of the group: they belong to
the companion, who enters with their own code.

Annual passes (F16) are not used up: they admit once per facility-local day, every day
of their validity. "Already entered today" is read from the check-in log after the
ticket's row has been locked by a conditional UPDATE in the same transaction, so two
gates scanning one pass at once admit it once (the second waits for the first's commit
and then sees its check-in row). A pass valid from first use gets its end date at its
first admitted entry.

Before a scan takes a use it passes the park's rules (:mod:`core_service.checkin.rules`,
docs/gates.md): exits and rides on day tickets admit only a ticket inside the park,
re-entry after an exit where the product allows it, coupon books only at rides, timed
tickets only around their slot. :func:`_pass` applies them, for single and group scans.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog.rules import first_use_valid_until
from core_service.checkin import rules, stays
from core_service.checkin.redeem import redeem_everyday
from core_service.models import (
    CheckIn,
    Order,
    Product,
    Ticket,
    TicketTransfer,
    utcnow,
)
from core_service.models.catalog import PassHolder
from core_service.orders import states as order_states
from core_service.platform.database import updated_one
from core_service.platform.tenancy import Tenant
from core_service.plugins.values import Redemption
from core_service.webhooks import outbox
from kippu_contract.admission import ADMISSION_KINDS, ProductKind
from kippu_contract.facility_time import facility_today
from kippu_contract.states import OrderStatus, TicketStatus, TransferState
from kippu_contract.tokens import (
    KIND_ORDER_GROUP,
    KIND_TICKET,
    InvalidToken,
    TokenClaim,
    read_claim,
    verify_token,
)

DIRECTIONS = ("entry", "exit", "ride")

MESSAGES = {
    "admitted": ("入場できます", "Admitted"),
    "already_used": ("使用済みのチケットです", "Ticket already used"),
    "invalid": ("無効なQRコードです", "Invalid QR code"),
    "cancelled": ("キャンセルされたチケットです", "Ticket cancelled"),
    "not_valid_today": ("本日は有効ではありません", "Not valid today"),
    "wrong_facility": ("他の施設のチケットです", "Ticket for another facility"),
    # With the amount when there is one (stays.due_messages).
    "payment_due": ("精算が必要です", "Please pay your stay first"),
    "not_entered": (
        "入場の記録がありません（本日の入場後のみ通れます）",
        "Not entered: no entry today since the last exit",
    ),
    "already_inside": (
        "入場中です（退場の記録がありません）",
        "Already inside: no exit since the last entry",
    ),
    "ride_only": (
        "乗り物専用のチケットです（入場には使えません）",
        "Ride ticket: not valid for entry",
    ),
    "too_early": (
        "{slot}の回は{opens}から入場できます",
        "Too early: the {slot} slot admits from {opens}",
    ),
    "too_late": (
        "{slot}の回の入場は{closes}までです",
        "Too late: the {slot} slot admitted until {closes}",
    ),
}


@dataclass(frozen=True, slots=True)
class ScanResult:
    result: str
    ticket: Ticket | None = None
    product: Product | None = None
    #: Group scans only: the tickets this scan admitted, and the order's code.
    group: bool = False
    admitted_tickets: tuple[Ticket, ...] = ()
    order_code: str = ""
    #: ``payment_due`` only: the yen a time stay owes before its exit (checkin.stays).
    due: int = 0
    #: A ticket with a holder (annual passes): the name, and whether a photo is on file.
    holder_name: str = ""
    holder_photo: bool = False
    #: The admitted tickets this scan used (took a use, or a pass's entry of the day), for
    #: the ``ticket.redeemed`` webhook; exits, re-entries and rides that take no use are
    #: admitted without one (the plugins' hook still hears of every admitted scan).
    used: tuple[Ticket, ...] = ()

    @property
    def admitted(self) -> bool:
        return self.result == "admitted"

    @property
    def admitted_count(self) -> int:
        """How many people may pass: 1 or 0 for a ticket, the group's size for a group."""
        if self.group:
            return len(self.admitted_tickets)
        return 1 if self.admitted else 0

    def message(self, locale: str) -> str:
        ja, en = stays.due_messages(self.due) if self.due else MESSAGES[self.result]
        if self.result in ("too_early", "too_late"):
            texts = rules.slot_texts(self.ticket, self.product)
            ja, en = ja.format(**texts), en.format(**texts)
        if self.group and self.admitted:
            # Gate staff count the party through, so the number leads.
            n = self.admitted_count
            ja, en = f"{n}名 {ja}", f"{n} admitted (group)"
        return ja if locale == "ja" else en


async def scan(
    session: AsyncSession, tenant: Tenant, token: str, direction: str, device_id: int | None
) -> ScanResult:
    group_claim = _group_claim(token)
    if group_claim is not None:
        return await scan_group(session, tenant, token, group_claim, direction, device_id)
    everyday = await redeem_everyday(session, tenant, token, direction, device_id)
    if everyday is not None:
        result, ticket, product = everyday
        used = (ticket,) if result == "admitted" else ()
        outcome = ScanResult(result, ticket, product, used=used)
    else:
        outcome = await _scan_and_log(session, tenant, token, direction, device_id)
    if outcome.admitted and outcome.ticket is not None:
        await announce_redeemed(tenant, [outcome.ticket], direction, device_id)
    return outcome


class RedeemedTicket(Protocol):
    """What the ``ticket_redeemed`` hook is told of a ticket (an ORM row or a scan's)."""

    @property
    def id(self) -> int: ...
    @property
    def order_id(self) -> int: ...
    @property
    def product_id(self) -> int: ...
    @property
    def uses_left(self) -> int: ...


async def announce_redeemed(
    tenant: Tenant, tickets: Iterable[RedeemedTicket], direction: str, device_id: int | None
) -> None:
    """Tell the plugins, after the commit, of each ticket a scan used (online or offline)."""
    for ticket in tickets:
        await tenant.plugins.ticket_redeemed(
            Redemption(
                ticket_id=ticket.id,
                order_id=ticket.order_id,
                product_id=ticket.product_id,
                direction=direction,
                uses_left=ticket.uses_left,
                device_id=device_id,
            )
        )


async def _scan_and_log(
    session: AsyncSession, tenant: Tenant, token: str, direction: str, device_id: int | None
) -> ScanResult:
    """Any ticket scan, through the ORM in one transaction with its check-in row."""
    outcome, reason = await _decide(session, tenant, token, direction)
    await _announce(session, tenant, outcome.used, direction, device_id)
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
    return outcome


async def _announce(
    session: AsyncSession,
    tenant: Tenant,
    tickets: Sequence[Ticket],
    direction: str,
    device_id: int | None,
    order_code: str = "",
) -> None:
    """The ``ticket.redeemed`` webhooks of a scan's used tickets, in its transaction."""
    if tickets:
        await outbox.record_redemptions(
            session, tenant, tickets, direction=direction, gate_id=device_id, order_code=order_code
        )


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
    if ticket.status == TicketStatus.CANCELLED:
        return ScanResult("cancelled", ticket, product), ""
    if product is not None and product.kind == ProductKind.TIME_STAY:
        stay = await stays.scan_stay(session, tenant, ticket, product, direction)
        # Only the entry takes the ticket's use (it starts the clock); the exit closes it.
        used = (ticket,) if stay.result == "admitted" and direction == "entry" else ()
        return ScanResult(stay.result, ticket, product, due=stay.due, used=used), stay.reason
    today = facility_today(tenant.facility.timezone)
    if not ticket.valid_from <= today <= ticket.valid_until:
        return ScanResult("not_valid_today", ticket, product), f"valid {ticket.valid_from}"
    assert product is not None  # a ticket's product is never deleted (foreign key)
    result, took_use = await _pass(session, tenant, ticket, product, direction, today)
    if took_use:
        await session.refresh(ticket)
    name, photo = await _holder(session, tenant, ticket)
    reason = "exit" if direction == "exit" and result == "admitted" else ""
    if result in ("too_early", "too_late"):
        reason = f"slot {ticket.slot}"
    used = (ticket,) if took_use else ()
    outcome = ScanResult(result, ticket, product, holder_name=name, holder_photo=photo, used=used)
    return outcome, reason


async def _pass(
    session: AsyncSession,
    tenant: Tenant,
    ticket: Ticket,
    product: Product,
    direction: str,
    today: dt.date,
) -> tuple[str, bool]:
    """The result of ``ticket`` (valid today) passing in ``direction`` after the rules of
    :mod:`core_service.checkin.rules`, and whether it took a use (then the ticket is used)."""
    if direction == "exit" or (direction == "ride" and not rules.ride_takes_use(product)):
        return await rules.inside_result(session, tenant, ticket, today), False
    if direction == "entry":
        refusal = rules.entry_refusal(product)
        if refusal is not None:
            return refusal, False
        again = await rules.reentry_result(session, tenant, ticket, product, today)
        if again is not None:
            return again, False
    refusal = rules.slot_refusal(ticket, product, tenant.facility.timezone)
    if refusal is not None:
        return refusal, False
    if not await _use_once(session, tenant, ticket, direction):
        return "already_used", False
    return "admitted", True


async def _holder(session: AsyncSession, tenant: Tenant, ticket: Ticket) -> tuple[str, bool]:
    """The holder's name and whether their photo is on file (only tickets with a name)."""
    if not ticket.holder_name:
        return "", False
    photo = await session.scalar(
        sa.select(PassHolder.id).where(
            PassHolder.facility_id == tenant.id,
            PassHolder.ticket_id == ticket.id,
            PassHolder.photo.is_not(None),
        )
    )
    return ticket.holder_name, photo is not None


async def _use_once(
    session: AsyncSession, tenant: Tenant, ticket: Ticket, direction: str = "entry"
) -> bool:
    product = await session.get(Product, ticket.product_id)  # usually from the identity map
    if product is not None and product.kind == "annual_pass":
        return await _enter_pass_today(session, tenant, ticket, product, direction)
    return await order_states.use_ticket(session, tenant.id, ticket.id, utcnow())


async def _enter_pass_today(
    session: AsyncSession, tenant: Tenant, ticket: Ticket, product: Product, direction: str
) -> bool:
    """Admit a pass if it has no admitted ``direction`` scan on the facility's local today."""
    now = utcnow()
    timezone = tenant.facility.timezone
    today = facility_today(timezone)
    values: dict[str, object] = {"first_used_at": sa.func.coalesce(Ticket.first_used_at, now)}
    if product.validity_start == "first_use":
        # Only the first admitted entry fixes the end date; later ones keep it.
        values["valid_until"] = sa.case(
            (Ticket.first_used_at.is_(None), first_use_valid_until(product, today)),
            else_=Ticket.valid_until,
        )
    # Takes the row lock even when nothing changes: a concurrent scan of the same pass
    # blocks here until this transaction commits its check-in row.
    locked = await updated_one(
        session,
        sa.update(Ticket)
        .where(
            Ticket.id == ticket.id,
            Ticket.facility_id == tenant.id,
            Ticket.status == TicketStatus.VALID,
            Ticket.valid_from <= today,
            Ticket.valid_until >= today,
        )
        .values(**values),
    )
    if not locked:
        return False
    # A new statement, so (READ COMMITTED) it sees check-ins committed while we waited.
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(today, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    entered = await session.scalar(
        sa.select(sa.func.count(CheckIn.id)).where(
            CheckIn.facility_id == tenant.id,
            CheckIn.ticket_id == ticket.id,
            CheckIn.direction == direction,
            CheckIn.result == "admitted",
            CheckIn.scanned_at >= start.astimezone(dt.UTC),
            CheckIn.scanned_at < end.astimezone(dt.UTC),
        )
    )
    return not entered


def _group_claim(token: str) -> TokenClaim | None:
    """The claim of a group code (unverified), or None for anything else."""
    try:
        claim = read_claim(token)
    except InvalidToken:
        return None
    return claim if claim.kind == KIND_ORDER_GROUP else None


async def scan_group(
    session: AsyncSession,
    tenant: Tenant,
    token: str,
    claim: TokenClaim,
    direction: str,
    device_id: int | None,
) -> ScanResult:
    """Admit every unused admission ticket of the order named by a group code."""
    outcome, reason = await _decide_group(session, tenant, token, claim, direction)
    now = utcnow()
    for ticket in outcome.admitted_tickets:
        session.add(
            CheckIn(
                facility_id=tenant.id,
                ticket_id=ticket.id,
                device_id=device_id,
                direction=direction,
                result="admitted",
                reason=f"group {outcome.order_code}",
                scanned_at=now,
            )
        )
    await _announce(session, tenant, outcome.used, direction, device_id, outcome.order_code)
    if not outcome.admitted_tickets:
        session.add(
            CheckIn(
                facility_id=tenant.id,
                ticket_id=None,
                device_id=device_id,
                direction=direction,
                result=outcome.result,
                reason=reason,
                scanned_at=now,
            )
        )
    await session.commit()
    await announce_redeemed(tenant, outcome.admitted_tickets, direction, device_id)
    return outcome


async def _decide_group(
    session: AsyncSession, tenant: Tenant, token: str, claim: TokenClaim, direction: str
) -> tuple[ScanResult, str]:
    if claim.facility_id != tenant.id:
        return ScanResult("wrong_facility", group=True), f"facility {claim.facility_id}"
    try:
        verify_token(token, tenant.facility.signing_public_key)
    except InvalidToken as exc:
        return ScanResult("invalid", group=True), str(exc)
    order = await session.scalar(
        sa.select(Order).where(Order.id == claim.subject_id, Order.facility_id == tenant.id)
    )
    if order is None or claim.secret_version != 1:
        return ScanResult("invalid", group=True), "unknown order"
    if order.status == OrderStatus.CANCELLED:
        return ScanResult("cancelled", group=True, order_code=order.code), ""
    if order.status != OrderStatus.PAID:
        return ScanResult("invalid", group=True, order_code=order.code), f"order {order.status}"
    handed_on = sa.select(TicketTransfer.ticket_id).where(
        TicketTransfer.order_id == order.id, TicketTransfer.state == TransferState.CLAIMED
    )
    members = list(
        await session.scalars(
            sa.select(Ticket)
            .join(Product, Product.id == Ticket.product_id)
            .where(
                Ticket.facility_id == tenant.id,
                Ticket.order_id == order.id,
                Product.kind.in_(ADMISSION_KINDS),
                Ticket.id.not_in(handed_on),
            )
            .order_by(Ticket.id)
        )
    )
    today = facility_today(tenant.facility.timezone)
    live = [t for t in members if t.status != TicketStatus.CANCELLED]
    today_members = [t for t in live if t.valid_from <= today <= t.valid_until]
    if not live:
        return ScanResult("cancelled", group=True, order_code=order.code), "no live tickets"
    if not today_members:
        return ScanResult("not_valid_today", group=True, order_code=order.code), "group"
    products = {
        p.id: p
        for p in await session.scalars(
            sa.select(Product).where(Product.id.in_({t.product_id for t in today_members}))
        )
    }
    results = [
        (t, *await _pass(session, tenant, t, products[t.product_id], direction, today))
        for t in today_members
    ]
    admitted = tuple(t for t, result, _ in results if result == "admitted")
    used = tuple(t for t, _, took_use in results if took_use)
    for ticket in used:
        await session.refresh(ticket)
    if not admitted:
        # The first member's refusal speaks for the group (they usually share it); a slot
        # refusal names that member's slot.
        first, refusal, _ = results[0]
        named = refusal in ("too_early", "too_late")
        return (
            ScanResult(
                refusal,
                first if named else None,
                products[first.product_id] if named else None,
                group=True,
                order_code=order.code,
            ),
            "group",
        )
    return (
        ScanResult(
            "admitted", group=True, admitted_tickets=admitted, order_code=order.code, used=used
        ),
        "group",
    )
