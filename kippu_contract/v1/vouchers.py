"""The managers' voucher API (``/api/v1/vouchers``): discount codes and their limits.

``valid_from`` and ``valid_until`` are facility-local: a date (``2026-12-24``) or a date
and time without offset (``2026-12-24T18:00``). A date in ``valid_until`` includes that
whole day. Answers give them back as UTC instants.
"""

from __future__ import annotations

import datetime as dt

import msgspec

#: What kinds of discount a voucher gives.
VOUCHER_KINDS = ("percent", "fixed")


class VoucherIn(msgspec.Struct, forbid_unknown_fields=True):
    #: 3 to 32 letters, digits, ``-`` or ``_``; compared without regard to case.
    code: str
    #: ``percent`` (value 1-100, off each matching line) or ``fixed`` (value in yen, off
    #: the matching lines together).
    kind: str
    value: int
    #: Products the discount applies to; empty: every product.
    product_ids: list[int] = []
    #: Orders that may use the code in all; None: no limit.
    max_uses: int | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    active: bool = True
    description: str = ""


class VoucherChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change; those left out stay. The code and kind never change (orders
    name them); ``clear`` sets optional fields back to none."""

    value: int | None = None
    product_ids: list[int] | None = None
    max_uses: int | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    active: bool | None = None
    description: str | None = None
    #: Names of the optional fields to set back to none (``max_uses``, ``valid_from``,
    #: ``valid_until``).
    clear: list[str] = []


class VoucherOut(msgspec.Struct):
    id: int
    code: str
    kind: str
    value: int
    product_ids: list[int]
    max_uses: int | None
    uses: int
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None
    active: bool
    description: str
    created_at: dt.datetime
