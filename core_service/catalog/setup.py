"""Setting a facility's catalogue up through the staff API: products and price categories.

Products are created, read and replaced whole (``PUT``), and deactivated rather than
deleted: a product stays for the orders, tickets and exports that name it. A price
category is deleted only while no order line uses it (409 ``price_in_use`` after; change
its price instead, which applies to new sales only: order lines keep their snapshot).
A product's code is its address in the shop and in add-ons' ``addon_for``, so it never
changes; its kind changes only while no order uses it.

Every change is an ``AuditLog`` row (``product.create``, ``product.update``,
``price.create``, ``price.update``, ``price.delete``) with the actor's email, the subject
(``product:<id>``, ``price:<id>``) and the changed fields before and after. Writing a
product or price row moves the facility's ``config_version`` (the triggers of migration
0010), so kiosks' cached catalogues and the shop see the change on their next request.
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog.product_fields import (
    PRODUCT_FIELDS,
    check_price,
    check_product,
    product_columns,
)
from core_service.models import AuditLog, OrderLine, PriceCategory, Product, utcnow
from core_service.platform.errors import Conflict, NotFound
from core_service.platform.tenancy import Tenant
from kippu_contract.admission import ProductKind
from kippu_contract.v1.catalog import PriceCategoryIn, PriceCategoryOut, ProductIn, ProductOut

PRICE_FIELDS = ("code", "name_ja", "name_en", "price", "handling_fee", "sort_order")


# --- reading ----------------------------------------------------------------------------


def price_out(category: PriceCategory, in_use: bool) -> PriceCategoryOut:
    return PriceCategoryOut(
        id=category.id,
        product_id=category.product_id,
        **{name: getattr(category, name) for name in PRICE_FIELDS},
        in_use=in_use,
    )


def product_out(product: Product, used_categories: set[int], has_orders: bool) -> ProductOut:
    out = msgspec.convert(
        {"id": product.id, **{name: getattr(product, name) for name in PRODUCT_FIELDS}},
        ProductOut,
    )
    out.price_categories = [price_out(c, c.id in used_categories) for c in product.price_categories]
    out.has_orders = has_orders
    return out


async def _used(session: AsyncSession, tenant: Tenant) -> tuple[set[int], set[int]]:
    """(product ids, price category ids) that order lines of the facility use."""
    rows = await session.execute(
        sa.select(OrderLine.product_id, OrderLine.price_category_id)
        .where(OrderLine.facility_id == tenant.id)
        .distinct()
    )
    pairs = rows.all()
    return {p for p, _ in pairs}, {c for _, c in pairs}


async def list_products(session: AsyncSession, tenant: Tenant) -> list[ProductOut]:
    """Every product of the facility, inactive ones too, in the shop's order."""
    products = await session.scalars(
        sa.select(Product)
        .where(Product.facility_id == tenant.id)
        .order_by(Product.sort_order, Product.id)
    )
    used_products, used_categories = await _used(session, tenant)
    return [product_out(p, used_categories, p.id in used_products) for p in products]


async def facility_product(session: AsyncSession, tenant: Tenant, product_id: int) -> Product:
    """The facility's product; another facility's is "not found", like a missing one."""
    product = await session.scalar(
        sa.select(Product)
        .where(Product.id == product_id, Product.facility_id == tenant.id)
        .execution_options(populate_existing=True)
    )
    if product is None:
        raise NotFound("No such product.", "商品が見つかりません。")
    return product


async def read_product(session: AsyncSession, tenant: Tenant, product_id: int) -> ProductOut:
    product = await facility_product(session, tenant, product_id)
    used_products, used_categories = await _used(session, tenant)
    return product_out(product, used_categories, product.id in used_products)


# --- products ---------------------------------------------------------------------------


def _audit(
    session: AsyncSession,
    tenant: Tenant,
    actor: str,
    action: str,
    subject: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """An audit row with only the fields that changed, before and after (JSON values)."""
    changed = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    session.add(
        AuditLog(
            facility_id=tenant.id,
            at=utcnow(),
            actor=actor,
            action=action,
            subject=subject,
            data={
                "before": {k: before[k] for k in changed if k in before},
                "after": {k: after[k] for k in changed if k in after},
            },
        )
    )


def _snapshot(values: dict[str, Any]) -> dict[str, Any]:
    """Column values as JSON (datetimes as ISO text), for the audit log."""
    return dict(msgspec.to_builtins(values))


async def _main_codes(session: AsyncSession, tenant: Tenant, own_code: str) -> set[str]:
    """Codes an add-on may be sold with: the facility's products that are not add-ons."""
    codes = await session.scalars(
        sa.select(Product.code).where(
            Product.facility_id == tenant.id, Product.kind != ProductKind.ADDON.value
        )
    )
    return set(codes) - {own_code.strip()}


async def create_product(
    session: AsyncSession, tenant: Tenant, data: ProductIn, *, actor: str
) -> ProductOut:
    """A new product (without prices yet); 409 ``product_exists`` for a code in use.

    Retrying a create is safe: the second finds the code taken and changes nothing."""
    check_product(data, main_codes=await _main_codes(session, tenant, data.code))
    columns = product_columns(data)
    taken = await session.scalar(
        sa.select(Product.id).where(
            Product.facility_id == tenant.id, Product.code == columns["code"]
        )
    )
    if taken is not None:
        raise Conflict(
            f"A product with the code {columns['code']!r} exists already.",
            f"コード「{columns['code']}」の商品はすでにあります。",
            code="product_exists",
            product_id=taken,
        )
    product = Product(facility_id=tenant.id, **columns)
    session.add(product)
    await session.flush()
    _audit(
        session, tenant, actor, "product.create", f"product:{product.id}", {}, _snapshot(columns)
    )
    await session.commit()
    return await read_product(session, tenant, product.id)


async def replace_product(
    session: AsyncSession, tenant: Tenant, product_id: int, data: ProductIn, *, actor: str
) -> ProductOut:
    """Every field of the product as ``data`` says (``active: false`` deactivates it)."""
    product = await facility_product(session, tenant, product_id)
    check_product(data, main_codes=await _main_codes(session, tenant, product.code))
    columns = product_columns(data)
    if columns["code"] != product.code:
        raise Conflict(
            "The code of a product cannot change (shop links and add-ons use it); "
            "create a new product instead.",
            "商品コードは変更できません（ショップのリンクやオプション商品が参照しています）。"
            "新しい商品を作成してください。",
            code="code_fixed",
        )
    used_products, _ = await _used(session, tenant)
    if columns["kind"] != product.kind and product.id in used_products:
        raise Conflict(
            "The kind of a product that has orders cannot change.",
            "注文のある商品の種別は変更できません。",
            code="product_has_orders",
        )
    before = _snapshot({name: getattr(product, name) for name in PRODUCT_FIELDS})
    for name, value in columns.items():
        setattr(product, name, value)
    _audit(
        session,
        tenant,
        actor,
        "product.update",
        f"product:{product.id}",
        before,
        _snapshot(columns),
    )
    await session.commit()
    return await read_product(session, tenant, product.id)


# --- price categories -------------------------------------------------------------------


async def _facility_price(session: AsyncSession, tenant: Tenant, price_id: int) -> PriceCategory:
    category = await session.scalar(
        sa.select(PriceCategory).where(
            PriceCategory.id == price_id, PriceCategory.facility_id == tenant.id
        )
    )
    if category is None:
        raise NotFound("No such price category.", "料金区分が見つかりません。")
    return category


async def _code_taken(
    session: AsyncSession, product_id: int, code: str, other_than: int | None = None
) -> None:
    query = sa.select(PriceCategory.id).where(
        PriceCategory.product_id == product_id, PriceCategory.code == code
    )
    if other_than is not None:
        query = query.where(PriceCategory.id != other_than)
    taken = await session.scalar(query)
    if taken is not None:
        raise Conflict(
            f"This product has a price category {code!r} already.",
            f"この商品には料金区分「{code}」がすでにあります。",
            code="price_exists",
            price_id=taken,
        )


async def _in_use(session: AsyncSession, category_id: int) -> bool:
    used = await session.scalar(
        sa.select(OrderLine.id).where(OrderLine.price_category_id == category_id).limit(1)
    )
    return used is not None


def _price_values(data: PriceCategoryIn) -> dict[str, Any]:
    return {
        name: (value.strip() if isinstance(value, str) else value)
        for name in PRICE_FIELDS
        for value in (getattr(data, name),)
    }


async def add_price(
    session: AsyncSession, tenant: Tenant, product_id: int, data: PriceCategoryIn, *, actor: str
) -> PriceCategoryOut:
    """A new price category; 409 ``price_exists`` for a code the product has."""
    product = await facility_product(session, tenant, product_id)
    check_price(data)
    values = _price_values(data)
    await _code_taken(session, product.id, values["code"])
    category = PriceCategory(facility_id=tenant.id, product_id=product.id, **values)
    session.add(category)
    await session.flush()
    _audit(session, tenant, actor, "price.create", f"price:{category.id}", {}, values)
    await session.commit()
    return price_out(category, in_use=False)


async def change_price(
    session: AsyncSession, tenant: Tenant, price_id: int, data: PriceCategoryIn, *, actor: str
) -> PriceCategoryOut:
    """Every field of the price category as ``data`` says; sold lines keep their price."""
    category = await _facility_price(session, tenant, price_id)
    check_price(data)
    values = _price_values(data)
    await _code_taken(session, category.product_id, values["code"], other_than=category.id)
    before = {name: getattr(category, name) for name in PRICE_FIELDS}
    for name, value in values.items():
        setattr(category, name, value)
    _audit(session, tenant, actor, "price.update", f"price:{category.id}", before, values)
    await session.commit()
    return price_out(category, in_use=await _in_use(session, category.id))


async def delete_price(session: AsyncSession, tenant: Tenant, price_id: int, *, actor: str) -> None:
    """Delete a price category no order line uses; 409 ``price_in_use`` otherwise."""
    category = await _facility_price(session, tenant, price_id)
    if await _in_use(session, category.id):
        raise Conflict(
            "Orders use this price category, so it cannot be deleted; change its price "
            "or deactivate the product instead.",
            "この料金区分は注文で使われているため削除できません。"
            "料金を変更するか、商品を販売停止にしてください。",
            code="price_in_use",
        )
    before = {name: getattr(category, name) for name in PRICE_FIELDS}
    await session.delete(category)
    _audit(session, tenant, actor, "price.delete", f"price:{category.id}", before, {})
    await session.commit()
