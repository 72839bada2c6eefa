"""Customers, orders, order lines, tickets and recorded consents."""

from __future__ import annotations

import datetime as dt
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core_service.models.base import Base, BigId, StateType, TenantMixin, Timestamped
from core_service.models.export_seq import ExportSequenced
from kippu_contract.states import OrderStatus, TicketStatus


class Customer(ExportSequenced, TenantMixin, Timestamped, Base):
    """A visitor known by e-mail. Exports show only ``pseudonym``."""

    __tablename__ = "customer"
    __table_args__ = (sa.UniqueConstraint("facility_id", "email"),)

    email: Mapped[str] = mapped_column(sa.String(254))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    #: Random, stable, non-identifying key used in exports and mailing segments.
    pseudonym: Mapped[str] = mapped_column(sa.String(32), unique=True)
    marketing_opt_in: Mapped[bool] = mapped_column(default=False)
    locale: Mapped[str] = mapped_column(sa.String(8), default="ja")
    first_purchase_at: Mapped[datetime | None]
    #: Argon2id hash of the optional My Page password; None means magic link only.
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    #: My Page session cookies carry the version they were issued under; logging out or
    #: changing the password bumps it, which ends every earlier session
    #: (core_service.storefront.mypage).
    session_version: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))


class Order(ExportSequenced, TenantMixin, Timestamped, Base):
    __tablename__ = "orders"  # "order" is an SQL keyword
    __table_args__ = (
        sa.UniqueConstraint("facility_id", "code"),
        sa.UniqueConstraint("facility_id", "idempotency_key"),
    )

    code: Mapped[str] = mapped_column(sa.String(16))
    channel: Mapped[str] = mapped_column(sa.String(16))  # web | kiosk | staff
    #: Moved only by the transitions in ``core_service.orders.states``.
    status: Mapped[OrderStatus] = mapped_column(
        StateType(OrderStatus), default=OrderStatus.PENDING, index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("customer.id", ondelete="SET NULL")
    )
    device_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("device.id", ondelete="SET NULL")
    )
    locale: Mapped[str] = mapped_column(sa.String(8), default="ja")
    #: Tax-inclusive total in yen, handling fees included.
    total: Mapped[int] = mapped_column(default=0)
    #: Client-chosen key that makes a retried create return the same order.
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100))
    #: Secret part of the visitor's ticket-page URL.
    access_key: Mapped[str] = mapped_column(sa.String(64))
    hold_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    paid_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    #: The voucher used (its use is counted while the order holds it, see
    #: ``core_service.vouchers.uses``), its code as typed at the time, and the yen it
    #: took off in all (``total`` is after the discount).
    voucher_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("voucher.id", ondelete="SET NULL")
    )
    voucher_code: Mapped[str] = mapped_column(sa.String(32), default="", server_default="")
    discount: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", lazy="selectin"
    )
    tickets: Mapped[list[Ticket]] = relationship(order_by="Ticket.id", lazy="selectin")


class OrderLine(ExportSequenced, TenantMixin, Timestamped, Base):
    """One product and price category in an order; names and prices are snapshots."""

    __tablename__ = "order_line"

    order_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("product.id"))
    price_category_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("price_category.id"))
    capacity_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("capacity.id"))
    product_name_ja: Mapped[str] = mapped_column(sa.String(200))
    product_name_en: Mapped[str] = mapped_column(sa.String(200))
    category_name_ja: Mapped[str] = mapped_column(sa.String(100))
    category_name_en: Mapped[str] = mapped_column(sa.String(100))
    visit_date: Mapped[dt.date | None]
    slot: Mapped[str] = mapped_column(sa.String(16), default="")
    quantity: Mapped[int]
    unit_price: Mapped[int]
    handling_fee: Mapped[int] = mapped_column(default=0)
    tax_rate: Mapped[int]
    #: Tax-inclusive, after ``discount`` (the voucher's yen off this line).
    line_total: Mapped[int]
    discount: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))

    order: Mapped[Order] = relationship(back_populates="lines")

    def product_name(self, locale: str) -> str:
        return self.product_name_ja if locale == "ja" else self.product_name_en

    def category_name(self, locale: str) -> str:
        return self.category_name_ja if locale == "ja" else self.category_name_en


class Ticket(ExportSequenced, TenantMixin, Timestamped, Base):
    """One admission, coupon book or pass, carried by a signed QR token."""

    __tablename__ = "ticket"

    order_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("order_line.id"))
    product_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("product.id"))
    price_category_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("price_category.id"))
    #: Moved only by the transitions in ``core_service.orders.states``.
    status: Mapped[TicketStatus] = mapped_column(
        StateType(TicketStatus), default=TicketStatus.VALID, index=True
    )
    valid_from: Mapped[dt.date] = mapped_column(index=True)
    valid_until: Mapped[dt.date] = mapped_column(index=True)
    slot: Mapped[str] = mapped_column(sa.String(16), default="")
    uses_total: Mapped[int] = mapped_column(default=1)
    uses_left: Mapped[int] = mapped_column(default=1)
    #: Bumped when a ticket is handed on, so the old QR token stops working.
    secret_version: Mapped[int] = mapped_column(default=1)
    holder_name: Mapped[str] = mapped_column(sa.String(200), default="")
    first_used_at: Mapped[datetime | None]


class ConsentRecord(TenantMixin, Base):
    """A consent the visitor gave before buying (waiver, terms), with the exact text."""

    __tablename__ = "consent_record"

    order_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"))
    plugin: Mapped[str] = mapped_column(sa.String(100))
    field: Mapped[str] = mapped_column(sa.String(100))
    text: Mapped[str] = mapped_column(sa.Text)
    text_sha256: Mapped[str] = mapped_column(sa.String(64))
    locale: Mapped[str] = mapped_column(sa.String(8))
    accepted_at: Mapped[datetime]
