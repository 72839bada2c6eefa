"""The staff cancellation service's own rules: which tickets a request names."""

from __future__ import annotations

import pytest

from core_service.aftersales.box_office import parse_ticket_ids
from core_service.platform.errors import InvalidInput


def test_no_ticket_ids_means_the_whole_order() -> None:
    assert parse_ticket_ids(None) is None
    assert parse_ticket_ids("") is None


def test_ticket_ids_are_comma_separated_and_blanks_are_skipped() -> None:
    assert parse_ticket_ids("3, 5,") == [3, 5]


def test_ticket_ids_that_are_not_numbers_are_refused() -> None:
    with pytest.raises(InvalidInput):
        parse_ticket_ids("3,five")
