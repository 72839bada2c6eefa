"""What the kiosk asks of the core's catalog: prices per unit, sold out, look-ups by id.

The catalog is the contract's :class:`~kippu_contract.v1.kiosk.CatalogOut`, decoded as the
core sent it; these are plain functions over it rather than methods on a kiosk copy of
the struct, so the kiosk never keeps a second, drifting definition of the wire shape.
"""

from __future__ import annotations

from collections.abc import Sequence

from kippu_contract.v1.kiosk import CatalogOut, OrderLineIn, PriceCategoryOut, ProductOut

#: The marker level the core's availability plugin gives a date with no places left.
SOLD_OUT_LEVEL = "sold_out"


def unit_amount(category: PriceCategoryOut) -> int:
    """What the visitor pays per unit: the price plus any separate handling fee (外手数料)."""
    return category.price + category.handling_fee


def sold_out(product: ProductOut) -> bool:
    """Whether the core marked the product sold out for today."""
    return product.marker is not None and product.marker.level == SOLD_OUT_LEVEL


def find_category(catalog: CatalogOut, category_id: int) -> tuple[ProductOut, PriceCategoryOut]:
    """The product and price category for an id; KeyError if the catalog lacks it."""
    for product in catalog.products:
        for category in product.price_categories:
            if category.id == category_id:
                return product, category
    raise KeyError(category_id)


def find_product(catalog: CatalogOut, product_id: int) -> ProductOut:
    """The product for an id; KeyError if the catalog lacks it."""
    for product in catalog.products:
        if product.id == product_id:
            return product
    raise KeyError(product_id)


def addons_for(catalog: CatalogOut, product: ProductOut) -> list[ProductOut]:
    """The add-ons offered with ``product`` (as the web shop offers them): those for its
    code, or for any main product; a dated add-on only with a dated product."""
    if product.is_addon:
        return []
    return [
        p
        for p in catalog.products
        if p.is_addon
        and (not p.addon_for or product.code in p.addon_for)
        and (product.requires_date or not p.requires_date)
    ]


def cart_problem(catalog: CatalogOut, lines: Sequence[OrderLineIn]) -> str | None:
    """Why the core would refuse this cart, checked before the visitor pays; a key of
    :data:`kiosk_driver.strings.STRINGS`, or None. The core checks the same again."""
    mains: set[str] = set()
    addons: list[ProductOut] = []
    for line in lines:
        product, _ = find_category(catalog, line.price_category_id)
        if product.is_addon:
            addons.append(product)
            continue
        mains.add(product.code)
        if product.slots:
            slot = next((s for s in product.slots if s.slot == line.slot), None)
            if slot is None:
                return "choose_slot"
            if slot.sold_out or (slot.remaining is not None and slot.remaining < line.quantity):
                return "slot_full"
        if product.holder_required and (
            len(line.holders) != line.quantity
            or any(not h.name.strip() or h.birth_date is None for h in line.holders)
        ):
            return "holder_missing"
    for addon in addons:
        if not mains or (addon.addon_for and not mains & set(addon.addon_for)):
            return "addon_alone"
    return None
