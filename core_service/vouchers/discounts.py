"""How many yen a voucher takes off each line of an order.

Prices include tax, so the discount is taken off the tax-inclusive amounts and the tax
is then computed per rate on what is left (``orders.tax``), as the receipt shows it.

- A discount applies to the ticket price of the matching lines (``unit_price`` times
  the quantity), never to handling fees.
- **percent**: each matching line loses ``floor(base * percent / 100)`` yen. Rounding
  down per line, in the visitor's disfavour by under one yen a line, keeps every amount
  integer yen and makes the discount of a line independent of the others.
- **fixed**: the yen are taken off the matching lines in the order's line order, each
  line at most down to zero, so the discount never exceeds what the lines cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Terms:
    """What a voucher gives: its kind, value and products (empty: every product)."""

    kind: str
    value: int
    product_ids: frozenset[int] = frozenset()

    def matches(self, product_id: int) -> bool:
        return not self.product_ids or product_id in self.product_ids


@dataclass(frozen=True, slots=True)
class Line:
    product_id: int
    #: The discountable amount: unit price times quantity, tax included.
    base: int


def line_discounts(terms: Terms, lines: Sequence[Line]) -> list[int]:
    """Yen off each line (0 for lines the voucher does not match)."""
    if terms.kind == "percent":
        return [
            line.base * terms.value // 100 if terms.matches(line.product_id) else 0
            for line in lines
        ]
    left = terms.value
    discounts = []
    for line in lines:
        off = min(left, line.base) if terms.matches(line.product_id) else 0
        discounts.append(off)
        left -= off
    return discounts


def applies(terms: Terms, lines: Sequence[Line]) -> bool:
    """Whether any line has something the voucher can take off."""
    return any(terms.matches(line.product_id) and line.base > 0 for line in lines)


def ticket_shares(discount: int, quantity: int) -> list[int]:
    """A line's discount spread over its tickets (the first ones carry the remainder),
    so cancelling all of them refunds exactly what was paid."""
    share, rest = divmod(discount, quantity)
    return [share + (1 if index < rest else 0) for index in range(quantity)]
