"""The demo facility "Kippu Adventure Park": seeded by ``kippu demo`` and used by tests.

It has a day ticket (adult/child, daily capacity), a 10-ride coupon book, the consent,
availability and demo payment plugins enabled, a kiosk, a gate and one staff user per
role. Tokens are returned once, as the real enrolment would.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from .accounts.roles import ROLES
from .accounts.service import create_staff, hash_new_password
from .facility_setup import create_facility, set_plugin
from .kiosks.devices import create_enrolled_device
from .models import Facility, PriceCategory, Product

DEMO_SLUG = "kippu-adventure-park"
DEMO_PASSWORD = "kippu-demo-pass"
DEMO_TAX_NUMBER = "T1234567890123"


def demo_staff_email(role: str, slug: str = DEMO_SLUG) -> str:
    return f"{role}@{slug}.example"


@dataclass(frozen=True, slots=True)
class DemoFacility:
    facility_id: int
    slug: str
    kiosk_token: str
    gate_token: str
    day_ticket_id: int
    coupon_book_id: int
    adult_category_id: int
    child_category_id: int
    coupon_category_id: int


async def seed_demo_facility(
    session: AsyncSession,
    secret_key: str,
    *,
    slug: str = DEMO_SLUG,
    name_ja: str = "キップ・アドベンチャーパーク",
    name_en: str = "Kippu Adventure Park",
    daily_capacity: int = 500,
) -> DemoFacility:
    facility = await create_facility(
        session,
        secret_key,
        slug=slug,
        name_ja=name_ja,
        name_en=name_en,
        tax_registration_number=DEMO_TAX_NUMBER,
        contact_email=f"info@{slug}.example",
        settings={"kiosk_payment_methods": ["card", "emoney", "qr"]},
    )
    for plugin in ("consent", "availability", "demo_payments"):
        await set_plugin(session, facility.id, plugin)
    day = await _product(
        session,
        facility,
        code="day",
        kind="day_admission",
        name_ja="1日入園券",
        name_en="Day ticket",
        daily_capacity=daily_capacity,
        categories=[("adult", "大人", "Adult", 2000), ("child", "小人", "Child", 1000)],
    )
    coupon = await _product(
        session,
        facility,
        code="rides10",
        kind="coupon_book",
        name_ja="のりもの10回券",
        name_en="10-ride coupon book",
        uses=10,
        requires_date=False,
        validity_days=1,
        categories=[("standard", "一般", "Standard", 3000)],
    )
    _, kiosk_token = await create_enrolled_device(session, facility.id, "kiosk", "Kiosk 1 / 券売機1")
    _, gate_token = await create_enrolled_device(session, facility.id, "gate", "Main gate / 正面ゲート")
    # One Argon2 hash serves every demo login: they share the password anyway, and
    # hashing is deliberately slow.
    password_hash = hash_new_password(DEMO_PASSWORD)
    for role in ROLES:
        await create_staff(
            session, facility.id, demo_staff_email(role, slug), password_hash, role, role.title()
        )
    await session.commit()
    return DemoFacility(
        facility_id=facility.id,
        slug=slug,
        kiosk_token=kiosk_token,
        gate_token=gate_token,
        day_ticket_id=day.id,
        coupon_book_id=coupon.id,
        adult_category_id=day.price_categories[0].id,
        child_category_id=day.price_categories[1].id,
        coupon_category_id=coupon.price_categories[0].id,
    )


async def _product(
    session: AsyncSession,
    facility: Facility,
    *,
    code: str,
    kind: str,
    name_ja: str,
    name_en: str,
    categories: list[tuple[str, str, str, int]],
    uses: int = 1,
    daily_capacity: int | None = None,
    requires_date: bool = True,
    validity_days: int = 1,
) -> Product:
    product = Product(
        facility_id=facility.id,
        code=code,
        kind=kind,
        name_ja=name_ja,
        name_en=name_en,
        uses=uses,
        daily_capacity=daily_capacity,
        requires_date=requires_date,
        validity_days=validity_days,
        channels=["web", "kiosk"],
    )
    session.add(product)
    await session.flush()
    for order, (cat_code, cat_ja, cat_en, price) in enumerate(categories):
        session.add(
            PriceCategory(
                facility_id=facility.id,
                product_id=product.id,
                code=cat_code,
                name_ja=cat_ja,
                name_en=cat_en,
                price=price,
                sort_order=order,
            )
        )
    await session.flush()
    await session.refresh(product, ["price_categories"])
    return product
