"""Driving the workbench's Catalogue page in a browser: create a product, then a price.

The page's widgets carry stable CSS classes (docs/workbench.md); each field is filled and
left with Tab, as a person would, so Panel sends the value before the button is pressed.
"""

from __future__ import annotations

from typing import Any


def _fill(page: Any, fields: dict[str, str]) -> None:
    for css, text in fields.items():
        page.locator(css).fill(text)
        page.locator(css).press("Tab")


def create_product(page: Any, code: str, name_ja: str, name_en: str, **inputs: str) -> None:
    """Create the product ``code`` on the open Catalogue page (English); ``inputs`` are
    more text fields by their class suffix, e.g. ``daily_capacity="80"``."""
    fields = {
        ".catalog-product-code input": code,
        ".catalog-product-name-ja input": name_ja,
        ".catalog-product-name-en input": name_en,
        **{f".catalog-product-{k.replace('_', '-')} input": v for k, v in inputs.items()},
    }
    _fill(page, fields)
    page.locator(".catalog-product-save button").click()
    page.locator("#catalog-message", has_text=f"Product {code} created").wait_for()


def add_price(page: Any, code: str, name_ja: str, name_en: str, amount: int) -> None:
    """Add the price category ``code`` to the product in the form."""
    _fill(
        page,
        {
            ".catalog-price-code input": code,
            ".catalog-price-name-ja input": name_ja,
            ".catalog-price-name-en input": name_en,
            ".catalog-price-amount input": str(amount),
        },
    )
    page.locator(".catalog-price-save button").click()
    page.locator("#catalog-message", has_text=f"Price category {code}").wait_for()
