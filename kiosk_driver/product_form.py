"""The product page's form read into order lines: quantities, the time slot of a timed
admission, one holder block per pass, and the add-ons chosen with the product.

Kept apart from the routes so the reading rules (which lines get the slot, how holder
blocks become quantities) are tested as plain functions.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from kiosk_driver.catalog import addons_for
from kippu_contract.v1.kiosk import CatalogOut, HolderIn, OrderLineIn, ProductOut

#: Most pass holder blocks the page shows (the core still applies the product's limit).
MAX_PASSES = 6
#: What the camera script puts before the base64 of the captured picture.
_DATA_URL = "base64,"


def product_form_lines(
    catalog: CatalogOut, product: ProductOut, form: Mapping[str, Any]
) -> list[OrderLineIn]:
    """The order lines of a submitted product page (empty if nothing was chosen)."""
    slot = str(form.get("slot", ""))[:16] if product.slots else ""
    if product.holder_required:
        lines = _pass_lines(product, form)
    else:
        lines = _quantity_lines(product, form, slot)
    for addon in addons_for(catalog, product):
        lines += _quantity_lines(addon, form, "")
    return lines


def _quantity(form: Mapping[str, Any], category_id: int) -> int:
    raw = str(form.get(f"qty_{category_id}", ""))
    return int(raw) if raw.isdigit() else 0


def _quantity_lines(product: ProductOut, form: Mapping[str, Any], slot: str) -> list[OrderLineIn]:
    return [
        OrderLineIn(c.id, q, slot=slot)
        for c in product.price_categories
        if (q := _quantity(form, c.id)) > 0
    ]


def _pass_lines(product: ProductOut, form: Mapping[str, Any]) -> list[OrderLineIn]:
    """One pass per holder block with a name; a block left empty is no pass."""
    by_category: dict[int, list[HolderIn]] = defaultdict(list)
    categories = {str(c.id): c.id for c in product.price_categories}
    for i in range(MAX_PASSES):
        name = str(form.get(f"holder_{i}_name", "")).strip()[:200]
        birth = _date(str(form.get(f"holder_{i}_birth_date", "")))
        if not name and birth is None:
            continue
        category = categories.get(str(form.get(f"holder_{i}_category", "")))
        if category is None:
            category = product.price_categories[0].id
        photo = str(form.get(f"holder_{i}_photo", ""))
        by_category[category].append(
            HolderIn(name, birth, photo.partition(_DATA_URL)[2] if _DATA_URL in photo else photo)
        )
    return [OrderLineIn(cid, len(holders), holders=holders) for cid, holders in by_category.items()]


def _date(raw: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        return None
