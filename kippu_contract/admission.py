"""What a product is and how a ticket is scanned: the vocabulary of the catalog and the gate.

The core stores these values, the kiosk shows them, the gate sends the direction and the
workbench counts visitors by them in the exports.
"""

from __future__ import annotations

from enum import StrEnum


class ProductKind(StrEnum):
    DAY_ADMISSION = "day_admission"
    TIMED_ADMISSION = "timed_admission"
    COUPON_BOOK = "coupon_book"
    ANNUAL_PASS = "annual_pass"
    ADDON = "addon"
    TIME_STAY = "time_stay"


PRODUCT_KINDS = tuple(kind.value for kind in ProductKind)
#: Kinds that admit a visitor through the gate (counted in the visit rate).
ADMISSION_KINDS = (
    ProductKind.DAY_ADMISSION.value,
    ProductKind.TIMED_ADMISSION.value,
    ProductKind.ANNUAL_PASS.value,
)


class ScanDirection(StrEnum):
    """Which way a scan goes: into the park, out of it, or onto a ride."""

    ENTRY = "entry"
    EXIT = "exit"
    RIDE = "ride"
