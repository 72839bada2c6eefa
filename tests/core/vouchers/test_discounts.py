"""The voucher arithmetic: integer yen, floored per line, never more than the lines cost."""

from __future__ import annotations

from core_service.vouchers.discounts import Line, Terms, applies, line_discounts, ticket_shares


def test_percent_floors_the_discount_of_each_line() -> None:
    # 15% of 2,999 is 449.85 and of 1,001 is 150.15: each line rounds down on its own.
    lines = [Line(1, 2999), Line(2, 1001)]
    assert line_discounts(Terms("percent", 15), lines) == [449, 150]


def test_percent_of_100_makes_the_lines_free() -> None:
    assert line_discounts(Terms("percent", 100), [Line(1, 2000), Line(2, 1000)]) == [2000, 1000]


def test_percent_only_touches_the_products_named() -> None:
    lines = [Line(1, 2000), Line(2, 1000), Line(1, 3000)]
    assert line_discounts(Terms("percent", 10, frozenset({1})), lines) == [200, 0, 300]


def test_fixed_is_taken_off_matching_lines_in_order_down_to_zero() -> None:
    lines = [Line(1, 1000), Line(2, 5000), Line(1, 800)]
    assert line_discounts(Terms("fixed", 1500, frozenset({1})), lines) == [1000, 0, 500]


def test_fixed_never_exceeds_what_the_lines_cost() -> None:
    lines = [Line(1, 1000), Line(2, 300)]
    discounts = line_discounts(Terms("fixed", 5000), lines)
    assert discounts == [1000, 300]
    assert sum(discounts) == 1300


def test_a_voucher_applies_only_when_a_line_matches() -> None:
    terms = Terms("percent", 10, frozenset({7}))
    assert not applies(terms, [Line(1, 2000)])
    assert applies(terms, [Line(1, 2000), Line(7, 1000)])
    assert not applies(terms, [Line(7, 0)])  # a free line leaves nothing to take off


def test_ticket_shares_add_up_to_the_line_discount() -> None:
    assert ticket_shares(1001, 3) == [334, 334, 333]
    assert ticket_shares(600, 3) == [200, 200, 200]
    assert sum(ticket_shares(7, 4)) == 7
