"""The demo facility "Kippu Adventure Park": seeded by ``kippu demo`` and used by tests.

It has every product kind, each sold on the web and at the kiosk: a day ticket
(adult/child, daily capacity), a 10-ride coupon book, a timed admission with four time
slots, an annual passport (holder data, valid from first use), and a parking add-on with
a separate handling fee; the consent, availability and demo payment plugins enabled, a kiosk, a gate
and one staff user per role. Tokens are returned once, as the real enrolment would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts.service import create_staff, hash_new_password
from core_service.facilities.setup import create_facility, set_plugin
from core_service.kiosks.devices import create_enrolled_device
from core_service.models import Facility, PriceCategory, Product
from kippu_contract.roles import ROLES

DEMO_SLUG = "kippu-adventure-park"
DEMO_PASSWORD = "kippu-demo-pass"
#: A made-up number with a valid check digit (kippu_contract.invoices).
DEMO_TAX_NUMBER = "T9234567890123"
DEMO_SLOTS = ("10:00", "11:30", "13:00", "14:30")


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
    # Added with the full catalog; defaults keep hand-built instances in tests working.
    timed_ticket_id: int = 0
    timed_adult_category_id: int = 0
    timed_child_category_id: int = 0
    annual_pass_id: int = 0
    pass_adult_category_id: int = 0
    pass_child_category_id: int = 0
    parking_id: int = 0
    parking_category_id: int = 0
    #: Time slot labels of the timed admission.
    timed_slots: tuple[str, ...] = ()


async def seed_demo_facility(
    session: AsyncSession,
    secret_key: str,
    *,
    slug: str = DEMO_SLUG,
    name_ja: str = "キップ・アドベンチャーパーク",
    name_en: str = "Kippu Adventure Park",
    daily_capacity: int = 500,
    slot_capacity: int = 40,
    parking_capacity: int = 100,
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
    timed = await _product(
        session,
        facility,
        code="zipline",
        kind="timed_admission",
        name_ja="ジップライン（時間指定）",
        name_en="Zip line (timed entry)",
        categories=[("adult", "大人", "Adult", 1500), ("child", "小人", "Child", 1000)],
        slots=[{"label": label, "capacity": slot_capacity} for label in DEMO_SLOTS],
        max_per_order=8,
    )
    annual = await _product(
        session,
        facility,
        code="annual",
        kind="annual_pass",
        name_ja="年間パスポート",
        name_en="Annual passport",
        categories=[("adult", "大人", "Adult", 12000), ("child", "小人", "Child", 6000)],
        requires_date=False,
        validity_days=365,
        validity_start="first_use",
        holder_required=True,
        max_per_order=6,
    )
    parking = await _product(
        session,
        facility,
        code="parking",
        kind="addon",
        name_ja="駐車場（1日）",
        name_en="Parking (1 day)",
        categories=[("car", "普通車", "Car", 1000)],
        handling_fee=100,
        daily_capacity=parking_capacity,
        addon_for=["day", "zipline"],
        max_per_order=2,
    )
    _, kiosk_token = await create_enrolled_device(
        session, facility.id, "kiosk", "Kiosk 1 / 券売機1"
    )
    _, gate_token = await create_enrolled_device(
        session, facility.id, "gate", "Main gate / 正面ゲート"
    )
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
        timed_ticket_id=timed.id,
        timed_adult_category_id=timed.price_categories[0].id,
        timed_child_category_id=timed.price_categories[1].id,
        annual_pass_id=annual.id,
        pass_adult_category_id=annual.price_categories[0].id,
        pass_child_category_id=annual.price_categories[1].id,
        parking_id=parking.id,
        parking_category_id=parking.price_categories[0].id,
        timed_slots=DEMO_SLOTS,
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
    channels: list[str] | None = None,
    handling_fee: int = 0,
    **rules: Any,
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
        channels=channels or ["web", "kiosk"],
        **rules,
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
                handling_fee=handling_fee,
                sort_order=order,
            )
        )
    await session.flush()
    await session.refresh(product, ["price_categories"])
    return product
