"""Consumption tax on tax-inclusive yen amounts, summed per rate as receipts need.

Japan's qualified-invoice rules compute the tax once per rate on the invoice total
(not per line), rounding down: tax = floor(total * rate / (100 + rate)).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TaxLine:
    rate: int
    total: int
    tax: int


def included_tax(total: int, rate: int) -> int:
    return total * rate // (100 + rate)


def tax_summary(amounts: Iterable[tuple[int, int]]) -> list[TaxLine]:
    """Per-rate totals and included tax from (rate, tax-inclusive amount) pairs."""
    totals: dict[int, int] = defaultdict(int)
    for rate, amount in amounts:
        totals[rate] += amount
    return [
        TaxLine(rate, total, included_tax(total, rate))
        for rate, total in sorted(totals.items(), reverse=True)
    ]
