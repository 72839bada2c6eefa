"""Time-based stays (F19): the clock a stay ticket's entry starts, and the charges paid.

A :class:`StayVisit` is written by the admitted entry scan of a ``time_stay`` ticket and
closed by the exit that owes nothing. Each charge the visitor pays for it is a normal
order (one line, tax rate, receipt) linked by a :class:`StayCharge`; a charge counts as
paid exactly when its order is paid, so a refunded or cancelled charge is owed again.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core_service.models.base import Base, BigId, TenantMixin, Timestamped
from core_service.models.sales import Order


class StayVisit(TenantMixin, Timestamped, Base):
    """One stay of one ticket: a stay ticket is good for one entry and one exit."""

    __tablename__ = "stay_visit"

    ticket_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("ticket.id", ondelete="CASCADE"), unique=True
    )
    entered_at: Mapped[datetime]
    #: When the exit that owed nothing let the visitor out; None while inside.
    exited_at: Mapped[datetime | None]


class StayCharge(TenantMixin, Base):
    """One charge for a stay: the order that carries it and the stay price it settles."""

    __tablename__ = "stay_charge"

    stay_visit_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("stay_visit.id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"), unique=True
    )
    #: Yen this charge asks for (the order's total).
    amount: Mapped[int]
    #: The stay's whole price up to ``computed_at``, which this charge brings paid up to.
    period_total: Mapped[int]
    #: The instant the charge was computed for.
    computed_at: Mapped[datetime]

    order: Mapped[Order] = relationship(lazy="raise")
