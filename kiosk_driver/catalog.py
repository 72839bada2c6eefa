"""What the kiosk asks of the core's catalog: prices per unit, sold out, look-ups by id.

The catalog is the contract's :class:`~kippu_contract.v1.kiosk.CatalogOut`, decoded as the
core sent it; these are plain functions over it rather than methods on a kiosk copy of
the struct, so the kiosk never keeps a second, drifting definition of the wire shape.
"""

from __future__ import annotations

from kippu_contract.v1.kiosk import CatalogOut, PriceCategoryOut, ProductOut

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
