"""Products, price categories and capacity rows."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core_service.models.base import Base, BigId, TenantMixin, Timestamped, utcnow
from core_service.models.export_seq import ExportSequenced


class Product(ExportSequenced, TenantMixin, Timestamped, Base):
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
    # --- catalog rules (migration 0003_catalog) ---
    #: Time slots of a timed admission: ``[{"label": "10:00", "capacity": 50}, ...]``;
    #: empty for whole-day products. Each slot has its own capacity row per date.
    slots: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    #: Sales window: not sold before / after these instants (None: no limit).
    sale_starts_at: Mapped[datetime | None]
    sale_ends_at: Mapped[datetime | None]
    #: Visit dates the product is not sold for (ISO dates), besides the facility's.
    closed_dates: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    #: Weekdays the product is not sold for (0 = Monday ... 6 = Sunday).
    closed_weekdays: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    #: Most tickets of this product in one order (None: only the global cap).
    max_per_order: Mapped[int | None]
    #: For add-ons: codes of the main products it may be sold with (empty: any main product).
    addon_for: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    #: Annual passes: "purchase" (valid from the purchase day) or "first_use".
    validity_start: Mapped[str] = mapped_column(
        sa.String(16), default="purchase", server_default="purchase"
    )
    #: Whether each ticket needs a holder (name and birth date, optional photo).
    holder_required: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # --- coupon books (migration 0005_coupon_tear_off) ---
    #: Coupon books only: issue ``uses`` single-use tickets (tear-off coupons, one QR each)
    #: instead of one ticket with ``uses`` uses; a torn-off coupon can be handed to a child.
    coupon_tear_off: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # --- time-based stays (migration 0022_stays, core_service.catalog.stay_pricing) ---
    #: Time stays only: ``stay_unit_price`` yen per ``stay_unit_minutes`` started after
    #: the first ``stay_free_minutes``; at most ``stay_daily_cap`` yen per facility-local
    #: day (0: no cap). The price category is what the stay ticket costs when bought.
    stay_unit_minutes: Mapped[int] = mapped_column(default=30, server_default=sa.text("30"))
    stay_unit_price: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    stay_daily_cap: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    stay_free_minutes: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    # --- gate rules (migration 0023_gate_rules, docs/gates.md "The rules of a scan") ---
    #: Day tickets: an entry after an admitted exit admits again (without another use).
    reentry_after_exit: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: Day tickets: a ride scan uses a use; off, a ride admits a visitor who has entered.
    rides_use_ticket: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: Timed admissions: minutes before and after the slot's start an entry admits.
    slot_grace_minutes: Mapped[int] = mapped_column(default=30, server_default="30")

    price_categories: Mapped[list[PriceCategory]] = relationship(
        back_populates="product", order_by="PriceCategory.sort_order", lazy="selectin"
    )

    def name(self, locale: str) -> str:
        return self.name_ja if locale == "ja" else self.name_en

    @property
    def is_addon(self) -> bool:
        return self.kind == "addon"

    def sale_pending(self, now: datetime | None = None) -> bool:
        """Whether the sales window has not opened yet."""
        return self.sale_starts_at is not None and (now or utcnow()) < self.sale_starts_at

    def slot_labels(self) -> list[str]:
        return [str(s["label"]) for s in self.slots or []]

    def slot_capacity(self, label: str) -> int | None:
        """Capacity of one slot (or of the day when ``label`` is ""); None: unlimited."""
        for slot in self.slots or []:
            if slot["label"] == label:
                capacity = slot.get("capacity")
                return None if capacity is None else int(capacity)
        return self.daily_capacity


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


class CapacityReservation(TenantMixin, Base):
    """Places taken from a capacity row for an order that is still being written.

    Written in the same statement that takes the places (``catalog.reservations``) and
    deleted in the transaction that writes the order, so a row that outlives its
    ``created_at`` by minutes belongs to a request that crashed in between: the sweeper
    gives its places back. ``counter`` says which column the places were added to.
    """

    __tablename__ = "capacity_reservation"

    capacity_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("capacity.id", ondelete="CASCADE"), index=True
    )
    quantity: Mapped[int]
    counter: Mapped[str] = mapped_column(sa.String(8))  # "sold" | "held"
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class PassHolder(TenantMixin, Timestamped, Base):
    """The holder of one ticket that needs one (annual passes), captured at checkout.

    Written with the order; ``ticket_id`` is filled when the tickets are issued on payment.
    The photo is kept in the database (not on a worker's disk) so every core worker and the
    card-printer export see the same data.
    """

    __tablename__ = "pass_holder"
    __table_args__ = (sa.UniqueConstraint("order_line_id", "position"),)

    order_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    order_line_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("order_line.id", ondelete="CASCADE")
    )
    #: 0-based place of the holder among the line's tickets.
    position: Mapped[int]
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("ticket.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    birth_date: Mapped[dt.date]
    photo: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    photo_type: Mapped[str] = mapped_column(sa.String(32), default="")
