"""The gate API (``/api/v1/gate/*``): scans and the facility's public key for offline checks."""

from __future__ import annotations

import datetime as dt

import msgspec


class ScanIn(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    direction: str = "entry"


class ScanTicketOut(msgspec.Struct):
    id: int
    product_name_ja: str
    product_name_en: str
    uses_left: int
    valid_from: dt.date
    valid_until: dt.date
    #: Tickets with a holder (annual passes): the holder's name, for the gate to compare.
    holder_name: str | None = None
    #: Where the gate fetches the holder's photo with its device token
    #: (``GET /api/v1/gate/holders/{ticket_id}/photo``); None when none is on file.
    holder_photo_url: str | None = None


class ScanOut(msgspec.Struct):
    result: str
    admitted: bool
    message_ja: str
    message_en: str
    ticket: ScanTicketOut | None = None


class PublicKeyOut(msgspec.Struct):
    facility: str
    algorithm: str
    public_key: str
    token_format: str
