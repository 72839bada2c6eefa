"""The check-in rules a park runs by (docs/gates.md, "The rules of a scan").

Each rule is a small function the scan service (:mod:`core_service.checkin.service`) asks
before it uses a ticket; the offline reconciliation (:mod:`core_service.checkin.conflicts`)
asks the same ones, so both agree on when a scan takes a use.

- **Inside or not** is read from the check-in log: a ticket is inside when its last admitted
  entry or exit of the facility-local day is an entry. An exit, and a ride that does not use
  the ticket, admit only a ticket that is inside (``not_entered`` otherwise).
- **Re-entry** (``Product.reentry_after_exit``): an entry of a used ticket whose last
  passage today is an exit admits again without a use; one whose last passage is an entry
  is ``already_inside``.
- **Rides on day tickets** (``Product.rides_use_ticket`` off, the default) take no use.
- **Coupon books** are for rides: at an entry gate they are refused ``ride_only``.
- **Timed tickets** take their use only from ``slot_grace_minutes`` before their slot's start
  to as long after it (``too_early``, ``too_late``), in the facility's time zone.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import CheckIn, Product, Ticket
from core_service.platform.tenancy import Tenant
from kippu_contract.admission import ProductKind
from kippu_contract.facility_time import local_bounds, utcnow


def ride_takes_use(product: Product) -> bool:
    """Whether a ride scan uses the ticket: coupon books and the like always; a day
    ticket only if its product says so."""
    return product.kind != ProductKind.DAY_ADMISSION or product.rides_use_ticket


def entry_refusal(product: Product) -> str | None:
    """A refusal of any entry of this product, whatever the ticket: coupon books ride."""
    return "ride_only" if product.kind == ProductKind.COUPON_BOOK else None


def slot_window(slot: str, grace_minutes: int) -> tuple[dt.time, dt.time] | None:
    """The local times a slot ``"HH:MM"`` admits from and until (both included); None for
    a ticket without a readable slot, which no window holds back."""
    try:
        start = dt.datetime.strptime(slot.strip(), "%H:%M")
    except ValueError:
        return None
    grace = dt.timedelta(minutes=max(grace_minutes, 0))
    opens = max(start - grace, start.replace(hour=0, minute=0))
    closes = min(start + grace, start.replace(hour=23, minute=59))
    return opens.time(), closes.time()


def slot_refusal(
    ticket: Ticket, product: Product, timezone: str, now: dt.datetime | None = None
) -> str | None:
    """``too_early`` or ``too_late`` for a timed ticket scanned outside its slot's window."""
    if product.kind != ProductKind.TIMED_ADMISSION:
        return None
    window = slot_window(ticket.slot or "", product.slot_grace_minutes)
    if window is None:
        return None
    # To the minute, as the window is written (and as the scanner page decides offline).
    local = (now or utcnow()).astimezone(ZoneInfo(timezone)).time().replace(second=0, microsecond=0)
    if local < window[0]:
        return "too_early"
    if local > window[1]:
        return "too_late"
    return None


def slot_texts(ticket: Ticket | None, product: Product | None) -> dict[str, str]:
    """What a slot refusal's message names: the slot and the window's ends."""
    if ticket is None or product is None:
        return {"slot": "", "opens": "", "closes": ""}
    window = slot_window(ticket.slot or "", product.slot_grace_minutes)
    opens, closes = ("", "") if window is None else (f"{window[0]:%H:%M}", f"{window[1]:%H:%M}")
    return {"slot": ticket.slot or "", "opens": opens, "closes": closes}


async def last_passage(
    session: AsyncSession,
    tenant: Tenant,
    ticket_id: int,
    day: dt.date,
    before: dt.datetime | None = None,
) -> str | None:
    """``"entry"`` or ``"exit"``: the ticket's last admitted one on the facility-local
    ``day`` (before ``before`` if given), or None if it has neither."""
    start, end = local_bounds(day, day, tenant.facility.timezone)
    query = (
        sa.select(CheckIn.direction)
        .where(
            CheckIn.facility_id == tenant.id,
            CheckIn.ticket_id == ticket_id,
            CheckIn.direction.in_(("entry", "exit")),
            CheckIn.result == "admitted",
            CheckIn.scanned_at >= start,
            CheckIn.scanned_at < (end if before is None else min(end, before)),
        )
        .order_by(CheckIn.scanned_at.desc(), CheckIn.id.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def last_passages(session: AsyncSession, tenant: Tenant, day: dt.date) -> dict[int, str]:
    """:func:`last_passage` of every ticket that passed on ``day``, by ticket id (for the
    offline bundle): one read of the day's admitted entries and exits, oldest first."""
    start, end = local_bounds(day, day, tenant.facility.timezone)
    rows = await session.execute(
        sa.select(CheckIn.ticket_id, CheckIn.direction)
        .where(
            CheckIn.facility_id == tenant.id,
            CheckIn.ticket_id.is_not(None),
            CheckIn.direction.in_(("entry", "exit")),
            CheckIn.result == "admitted",
            CheckIn.scanned_at >= start,
            CheckIn.scanned_at < end,
        )
        .order_by(CheckIn.scanned_at, CheckIn.id)
    )
    return {ticket_id: direction for ticket_id, direction in rows if ticket_id is not None}


async def offline_takes_use(
    session: AsyncSession,
    tenant: Tenant,
    ticket: Ticket,
    product: Product,
    direction: str,
    at: dt.datetime,
) -> bool:
    """Whether a scan a gate admitted offline at ``at`` uses the ticket on upload: as
    online, exits, rides that take no use, coupon books at an entry (an older page may
    have admitted one) and re-entries after an exit of that day do not."""
    if direction == "exit" or (direction == "ride" and not ride_takes_use(product)):
        return False
    if direction == "entry" and entry_refusal(product) is not None:
        return False
    if direction == "entry" and product.reentry_after_exit:
        day = at.astimezone(ZoneInfo(tenant.facility.timezone)).date()
        # After an exit the entry is a re-entry; otherwise it takes the use (and a ticket
        # already inside is a double admission).
        return await last_passage(session, tenant, ticket.id, day, before=at) != "exit"
    return True


async def lock_ticket(session: AsyncSession, tenant: Tenant, ticket_id: int) -> None:
    """Hold the ticket's row until the commit, so a second gate deciding from the check-in
    log waits for this scan's row (READ COMMITTED: its next statement then sees it)."""
    await session.execute(
        sa.select(Ticket.id)
        .where(Ticket.id == ticket_id, Ticket.facility_id == tenant.id)
        .with_for_update()
    )


async def inside_result(session: AsyncSession, tenant: Tenant, ticket: Ticket, day: dt.date) -> str:
    """``admitted`` for a ticket inside on ``day`` (an exit, a ride without a use), else
    ``not_entered``."""
    inside = await last_passage(session, tenant, ticket.id, day) == "entry"
    return "admitted" if inside else "not_entered"


async def reentry_result(
    session: AsyncSession, tenant: Tenant, ticket: Ticket, product: Product, day: dt.date
) -> str | None:
    """For a product with re-entry: ``admitted`` (back in after an exit, no use) or
    ``already_inside``; None when the ticket has not passed today (the entry uses it)."""
    if not product.reentry_after_exit:
        return None
    await lock_ticket(session, tenant, ticket.id)
    last = await last_passage(session, tenant, ticket.id, day)
    if last == "exit":
        return "admitted"
    if last == "entry":
        return "already_inside"
    return None
