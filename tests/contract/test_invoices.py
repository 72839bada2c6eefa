"""Registration numbers of qualified invoices: T, 13 digits, the NTA's check digit."""

from __future__ import annotations

import pytest

from kippu_contract.invoices import check_digit, is_registration_number, registration_number_problem


def test_the_check_digit_of_published_corporate_numbers() -> None:
    # The National Tax Agency's own corporate number is 7000012050002.
    assert check_digit("000012050002") == 7
    assert is_registration_number("T7000012050002")


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("T1234567890123", "check digit"),  # the right form, a mistyped digit
        ("T8000012050002", "check digit"),
        ("7000012050002", "T followed by 13 digits"),
        ("T700001205000", "T followed by 13 digits"),
        ("T70000120500021", "T followed by 13 digits"),
        ("t7000012050002", "T followed by 13 digits"),
        ("T７000012050002", "T followed by 13 digits"),  # a full-width digit
    ],
)
def test_wrong_numbers_say_why(number: str, why: str) -> None:
    problem = registration_number_problem(number)
    assert problem is not None and why in problem


def test_the_body_must_be_twelve_digits() -> None:
    with pytest.raises(ValueError):
        check_digit("12345")
