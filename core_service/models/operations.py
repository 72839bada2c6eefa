"""Payments, check-ins and the mail outbox: the records of things that happened."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core_service.models.base import Base, BigId, StateType, TenantMixin, Timestamped
from core_service.models.export_seq import ExportSequenced
from kippu_contract.states import PaymentState

CHECKIN_RESULTS = (
    "admitted",
    "already_used",
    "invalid",
    "cancelled",
    "not_valid_today",
    "wrong_facility",
    "payment_due",  # a time stay's exit before its charge is paid (checkin.stays)
    # the gate rules (core_service/checkin/rules.py)
    "not_entered",
    "already_inside",
    "ride_only",
    "too_early",
    "too_late",
)


class Payment(ExportSequenced, TenantMixin, Timestamped, Base):
    __tablename__ = "payment"
    __table_args__ = (
        sa.UniqueConstraint("facility_id", "idempotency_key"),
        # One payable attempt per order: a second start (a double click) cannot open
        # another; payments.service continues the one there is.
        sa.Index(
            "uq_payment_one_pending_per_order",
            "order_id",
            unique=True,
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        ),
    )

    order_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(sa.String(64))
    method: Mapped[str] = mapped_column(sa.String(32))
    #: Moved only by the transitions in ``core_service.payments.states``, each of which
    #: records a :class:`PaymentEvent`.
    state: Mapped[PaymentState] = mapped_column(
        StateType(PaymentState), default=PaymentState.CREATED, index=True
    )
    amount: Mapped[int]
    provider_ref: Mapped[str] = mapped_column(sa.String(200), default="")
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100))
    #: The provider's data of this attempt only (next action, expiry, start error);
    #: written by merging (``payments.service.merge_provider_data``), never replaced.
    #: Outcomes are states, not keys here.
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PaymentEvent(TenantMixin, Base):
    """Every state change of a payment, with the provider's reference; append-only."""

    __tablename__ = "payment_event"

    payment_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("payment.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    from_state: Mapped[PaymentState] = mapped_column(StateType(PaymentState))
    #: Equal to ``from_state`` for a note (started, amount mismatch): no state change.
    to_state: Mapped[PaymentState] = mapped_column(StateType(PaymentState))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CheckIn(ExportSequenced, TenantMixin, Base):
    """One scan at a gate, admitted or refused; append-only."""

    __tablename__ = "checkin"

    ticket_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("ticket.id", ondelete="SET NULL"), index=True
    )
    device_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("device.id", ondelete="SET NULL")
    )
    direction: Mapped[str] = mapped_column(sa.String(8))  # entry | exit | ride
    result: Mapped[str] = mapped_column(sa.String(24))
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    scanned_at: Mapped[datetime] = mapped_column(index=True)


class OutboxMessage(TenantMixin, Timestamped, Base):
    """An e-mail waiting to be sent, or sent; the sender retries with back-off."""

    __tablename__ = "outbox_message"

    kind: Mapped[str] = mapped_column(sa.String(32))
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    sent_at: Mapped[datetime | None]
