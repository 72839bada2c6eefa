"""Products, price categories and capacity rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigId, TenantMixin, Timestamped

PRODUCT_KINDS = (
    "day_admission",
    "timed_admission",
    "coupon_book",
    "annual_pass",
    "addon",
    "time_stay",
)
#: Kinds that admit a visitor through the gate (counted in the visit rate).
ADMISSION_KINDS = ("day_admission", "timed_admission", "annual_pass")


class Product(TenantMixin, Timestamped, Base):
    __tablename__ = "product"
    __table_args__ = (sa.UniqueConstraint("facility_id", "code"),)

    code: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(32))
    name_ja: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    description_ja: Mapped[str] = mapped_column(sa.Text, default="")
    description_en: Mapped[str] = mapped_column(sa.Text, default="")
    #: Consumption tax rate in percent (10 standard, 8 reduced).
    tax_rate: Mapped[int] = mapped_column(default=10)
    #: Uses per ticket: 1 for admissions, N for an N-ride coupon book.
    uses: Mapped[int] = mapped_column(default=1)
    #: Sales channels that offer the product: any of "web", "kiosk".
    channels: Mapped[list[Any]] = mapped_column(default=lambda: ["web", "kiosk"])
    #: Capacity of a date that has no explicit capacity row; None means unlimited.
    daily_capacity: Mapped[int | None]
    #: Whether the buyer chooses a visit date (admissions) or the ticket is open-dated.
    requires_date: Mapped[bool] = mapped_column(default=True)
    #: Days an open-dated ticket stays valid from purchase (coupon books).
    validity_days: Mapped[int] = mapped_column(default=1)
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)

    price_categories: Mapped[list[PriceCategory]] = relationship(
        back_populates="product", order_by="PriceCategory.sort_order", lazy="selectin"
    )

    def name(self, locale: str) -> str:
        return self.name_ja if locale == "ja" else self.name_en


class PriceCategory(TenantMixin, Timestamped, Base):
    __tablename__ = "price_category"
    __table_args__ = (sa.UniqueConstraint("product_id", "code"),)

    product_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("product.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(32))
    name_ja: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(100))
    #: Tax-inclusive price in yen.
    price: Mapped[int]
    #: Separate handling fee (外手数料) in yen, kept on refunds.
    handling_fee: Mapped[int] = mapped_column(default=0)
    sort_order: Mapped[int] = mapped_column(default=0)

    product: Mapped[Product] = relationship(back_populates="price_categories")

    def name(self, locale: str) -> str:
        return self.name_ja if locale == "ja" else self.name_en


class Capacity(TenantMixin, Timestamped, Base):
    """Places of one product on one date (and slot). Sold via atomic conditional updates."""

    __tablename__ = "capacity"
    __table_args__ = (
        sa.UniqueConstraint("facility_id", "product_id", "date", "slot"),
        sa.CheckConstraint("sold >= 0 AND held >= 0 AND sold + held <= capacity", name="bounds"),
    )

    product_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("product.id", ondelete="CASCADE"))
    date: Mapped[dt.date]
    #: Time slot label ("10:00"), or "" for the whole day.
    slot: Mapped[str] = mapped_column(sa.String(16), default="")
    capacity: Mapped[int]
    sold: Mapped[int] = mapped_column(default=0)
    held: Mapped[int] = mapped_column(default=0)
