"""After the sale: handed-on tickets, cancellations, refunds and issued receipts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core_service.models.base import Base, BigId, StateType, TenantMixin, Timestamped
from core_service.models.export_seq import ExportSequenced
from kippu_contract.states import RefundState, TransferState


class TicketTransfer(TenantMixin, Timestamped, Base):
    """A ticket the buyer handed on to a companion (F2); one per ticket."""

    __tablename__ = "ticket_transfer"
    __table_args__ = (sa.UniqueConstraint("ticket_id"),)

    order_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("ticket.id", ondelete="CASCADE"))
    #: Secret of the link the buyer passes on; it only claims, it never shows the ticket.
    claim_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: Secret of the companion's own ticket page, made at claim time so the buyer, who
    #: knows the claim link, cannot see the companion's fresh QR code.
    holder_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    recipient_email: Mapped[str] = mapped_column(sa.String(254), default="")
    holder_name: Mapped[str] = mapped_column(sa.String(200), default="")
    #: Moved only by ``core_service.aftersales.states``.
    state: Mapped[TransferState] = mapped_column(
        StateType(TransferState), default=TransferState.OFFERED
    )
    claimed_at: Mapped[datetime | None]


class Cancellation(TenantMixin, Timestamped, Base):
    """One cancellation of some or all tickets of an order (F6, F7); append-only."""

    __tablename__ = "cancellation"
    __table_args__ = (sa.UniqueConstraint("facility_id", "idempotency_key"),)

    order_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    #: "staff:<id>" or "visitor:<customer id>".
    actor: Mapped[str] = mapped_column(sa.String(200))
    self_service: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    ticket_ids: Mapped[list[Any]] = mapped_column(default=list)
    #: Sum of the base prices of the cancelled tickets.
    base_total: Mapped[int] = mapped_column(default=0)
    #: Cancellation fee the facility keeps under its policy.
    fee: Mapped[int] = mapped_column(default=0)
    #: Handling fees (外手数料) kept: they are never refunded.
    handling_fee_kept: Mapped[int] = mapped_column(default=0)
    refund_amount: Mapped[int] = mapped_column(default=0)
    #: Per ticket: base price, fee, refund and tax rate (receipts net refunds per rate).
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str] = mapped_column(sa.String(100))


class Refund(ExportSequenced, TenantMixin, Timestamped, Base):
    """Money going back for one cancellation, exactly once (the key is sent to the provider)."""

    __tablename__ = "refund"
    __table_args__ = (sa.UniqueConstraint("facility_id", "idempotency_key"),)

    order_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    cancellation_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("cancellation.id", ondelete="CASCADE"), unique=True
    )
    payment_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("payment.id", ondelete="SET NULL")
    )
    provider: Mapped[str] = mapped_column(sa.String(64))
    method: Mapped[str] = mapped_column(sa.String(32), default="")
    amount: Mapped[int]
    #: Moved only by ``core_service.aftersales.states`` (see ``RefundState``).
    state: Mapped[RefundState] = mapped_column(
        StateType(RefundState), default=RefundState.PENDING, index=True
    )
    provider_ref: Mapped[str] = mapped_column(sa.String(200), default="")
    idempotency_key: Mapped[str] = mapped_column(sa.String(100))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    refunded_at: Mapped[datetime | None]


class Receipt(TenantMixin, Timestamped, Base):
    """A receipt (領収書) issued for an order; every issue after the first is a reissue."""

    __tablename__ = "receipt"
    __table_args__ = (sa.UniqueConstraint("facility_id", "number"),)

    order_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(sa.String(32))
    addressee: Mapped[str] = mapped_column(sa.String(200), default="")
    purpose: Mapped[str] = mapped_column(sa.String(200), default="")
    amount: Mapped[int]
    reissue: Mapped[bool] = mapped_column(default=False)
    issued_at: Mapped[datetime]
