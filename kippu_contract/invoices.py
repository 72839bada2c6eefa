"""Qualified-invoice registration numbers (適格請求書発行事業者登録番号).

A registration number is ``T`` and 13 digits. The first digit is a check digit over the
other twelve, computed as for the corporate number (法人番号) by the National Tax Agency:
with the twelve digits numbered from the right (P1 the last), weights 1 for odd and 2 for
even positions, the check digit is ``9 - (Σ Pn × Qn mod 9)``. Sole proprietors get
13-digit numbers of the same form. Checking it catches a mistyped number before it is
printed on every receipt a facility issues; it does not prove the number is registered
(only the NTA's public site can say that).

Shared by the core (which refuses an invalid number when a facility is set up or changed)
and the clients that print receipts.
"""

from __future__ import annotations

import re

# ASCII only: \d would also take full-width and other Unicode digits.
_FORM = re.compile(r"T([0-9])([0-9]{12})", re.ASCII)


def check_digit(base: str) -> int:
    """The check digit of a 12-digit corporate or registration number body."""
    if len(base) != 12 or not (base.isascii() and base.isdigit()):
        raise ValueError("the body of a registration number is 12 digits")
    total = sum(
        int(digit) * (2 if position % 2 == 0 else 1)
        for position, digit in enumerate(reversed(base), start=1)
    )
    return 9 - total % 9


def registration_number_problem(number: str) -> str | None:
    """Why ``number`` is not a valid registration number (English), or None when it is."""
    found = _FORM.fullmatch(number)
    if found is None:
        return "A registration number is T followed by 13 digits."
    if int(found.group(1)) != check_digit(found.group(2)):
        return "The registration number's check digit does not match; please check it."
    return None


def is_registration_number(number: str) -> bool:
    return registration_number_problem(number) is None
