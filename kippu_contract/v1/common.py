"""Shapes every API family shares.

Responses decode tolerantly (msgspec ignores fields it does not know), so a newer core
may add fields without breaking an older kiosk or workbench; requests the core receives
forbid unknown fields, so a typo in a client is refused, not silently dropped.
"""

from __future__ import annotations

import msgspec


class FacilityOut(msgspec.Struct):
    id: int
    slug: str
    name_ja: str
    name_en: str
    tax_registration_number: str
