"""The offline side of the gate API: the bundle a gate decides from when the network is
gone, the scans it uploads afterwards, and the conflicts staff review (docs/gates.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

#: Scans one upload may carry; a longer queue is sent in several uploads.
MAX_UPLOAD_SCANS = 500

Nonce = Annotated[str, msgspec.Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class BundleTicket(msgspec.Struct):
    """A ticket valid on the bundle's day, with what the gate needs to decide."""

    id: int
    secret_version: int
    status: str
    #: True for an annual pass: admits once a day instead of using up.
    is_pass: bool
    uses_left: int
    valid_from: dt.date
    valid_until: dt.date
    product_name_ja: str
    product_name_en: str
    # --- the gate rules (docs/gates.md, "The rules of a scan"), for deciding offline ---
    #: The product's kind (``day_admission``, ``coupon_book``, ``timed_admission``...).
    kind: str = ""
    reentry_after_exit: bool = False
    rides_use_ticket: bool = False
    #: Timed tickets: the slot ("10:00") and the minutes before and after it that admit.
    slot: str = ""
    slot_grace_minutes: int = 0
    #: The ticket's last admitted ``entry`` or ``exit`` of the day on the server, or "".
    last_passage: str = ""
    #: The holder's name (passes); the photo needs the network.
    holder_name: str = ""


class RevokedCode(msgspec.Struct):
    """A code that must not open the gate though its signature is good."""

    ticket_id: int
    #: Every version below this one is revoked (a handed-on ticket); for a cancelled
    #: ticket, the ticket's current version plus one (all of its codes).
    below_version: int
    reason: str  # "cancelled" | "handed_on"


class OfflineBundle(msgspec.Struct):
    facility_id: int
    facility: str
    #: The facility's time zone (IANA name): the gate's "today" is the day there.
    timezone: str
    algorithm: str
    public_key: str
    #: The facility-local day the ticket list is for; a gate refuses to use it on another.
    valid_on: dt.date
    generated_at: dt.datetime
    tickets: list[BundleTicket]
    revoked: list[RevokedCode]


class OfflineScanIn(msgspec.Struct, forbid_unknown_fields=True):
    nonce: Nonce
    token: Token
    scanned_at: dt.datetime
    #: What the gate decided offline: a check-in result (``admitted``, ``already_used``...).
    result: str
    direction: str = "entry"


class OfflineUploadIn(msgspec.Struct, forbid_unknown_fields=True):
    scans: Annotated[list[OfflineScanIn], msgspec.Meta(max_length=MAX_UPLOAD_SCANS)]


class OfflineScanOutcome(msgspec.Struct):
    nonce: str
    #: ``recorded`` (new) or ``duplicate`` (this device uploaded that nonce before).
    status: str
    #: The conflict kind when this admission collided with another, else None.
    conflict: str | None = None


class OfflineUploadOut(msgspec.Struct):
    recorded: int
    duplicates: int
    conflicts: int
    scans: list[OfflineScanOutcome]


class GateConflictOut(msgspec.Struct):
    id: int
    kind: str
    ticket_id: int | None
    device_id: int
    device_name: str
    nonce: str
    direction: str
    scanned_at: dt.datetime
    uploaded_at: dt.datetime
    earlier_checkin_id: int | None
    earlier_scanned_at: dt.datetime | None
    detected_at: dt.datetime
    message_ja: str
    message_en: str


class GateConflictListOut(msgspec.Struct):
    conflicts: list[GateConflictOut]
