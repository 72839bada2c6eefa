"""Pass holders as a kiosk sends them, turned into the checkout's holders.

The kiosk sends each holder's photo as base64 inside the JSON order (the webcam picture
taken on the touch screen); the web uploads a file. Both end as the same
:class:`~core_service.catalog.rules.Holder`, so the catalog rules (one complete holder
per pass, JPEG or PNG of at most 2 MB) judge them alike.
"""

from __future__ import annotations

import base64
import binascii

from core_service.catalog.rules import (
    MAX_PHOTO_BYTES,
    Holder,
    bad_photo,
    incomplete_holder,
    photo_type,
)
from kippu_contract.v1.kiosk import HolderIn


def kiosk_holders(holders: list[HolderIn]) -> tuple[Holder, ...]:
    """The line's holders; 422 for a holder without name or birth date, or a bad photo."""
    result = []
    for holder in holders:
        if not holder.name.strip() or holder.birth_date is None:
            raise incomplete_holder()
        photo = _photo(holder.photo) if holder.photo else None
        mime = photo_type(photo) if photo else None
        result.append(Holder(holder.name, holder.birth_date, photo, mime or ""))
    return tuple(result)


def _photo(encoded: str) -> bytes:
    # base64 grows by 4/3: refuse an oversized photo before decoding it.
    if len(encoded) > (MAX_PHOTO_BYTES * 4) // 3 + 4:
        raise bad_photo()
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise bad_photo() from None
    if photo_type(data) is None:
        raise bad_photo()
    return data
