"""Gate scans decided offline and uploaded later, and the conflicts they revealed (issue 15).

An offline gate decides alone from its bundle (see ``core_service.checkin.offline``) and
later uploads what it decided. Each upload row is kept as an :class:`OfflineScan`, unique
per device and nonce, so a re-upload of the same queue never counts a scan twice. When
the server finds that a ticket an offline gate admitted had already been admitted (by an
online scan or another offline gate) or was cancelled, it records a :class:`GateConflict`
for staff instead of dropping either admission.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core_service.models.base import Base, BigId, TenantMixin


class OfflineScan(TenantMixin, Base):
    """One scan a gate decided offline, as uploaded; append-only."""

    __tablename__ = "offline_scan"
    # The idempotency key of uploads: a device's nonce is recorded once.
    __table_args__ = (sa.UniqueConstraint("device_id", "nonce"),)

    device_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("device.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(sa.String(64))
    token: Mapped[str] = mapped_column(sa.String(200))
    direction: Mapped[str] = mapped_column(sa.String(8))
    #: The gate's clock when the visitor stood there (not the upload time).
    scanned_at: Mapped[datetime]
    #: What the gate decided offline (a check-in result: admitted, already_used, ...).
    offline_result: Mapped[str] = mapped_column(sa.String(24))
    uploaded_at: Mapped[datetime]
    #: The check-in row the upload wrote into the log.
    checkin_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("checkin.id", ondelete="SET NULL")
    )
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("ticket.id", ondelete="SET NULL"), index=True
    )


class GateConflict(TenantMixin, Base):
    """A ticket admitted offline that the server could not admit: listed for staff."""

    __tablename__ = "gate_conflict"

    ticket_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("ticket.id", ondelete="SET NULL"), index=True
    )
    offline_scan_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("offline_scan.id", ondelete="CASCADE"), unique=True
    )
    #: The admission this one collides with (an online or earlier-uploaded scan), if any.
    earlier_checkin_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("checkin.id", ondelete="SET NULL")
    )
    #: ``double_admission`` (used twice), ``cancelled`` or ``superseded`` (handed on).
    kind: Mapped[str] = mapped_column(sa.String(24))
    detected_at: Mapped[datetime] = mapped_column(index=True)
