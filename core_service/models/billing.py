"""What the platform bills each facility (F26): its plan over time and the monthly
statements of the system fee."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core_service.models.base import Base, TenantMixin, Timestamped, UTCDateTime


class FacilityPlan(TenantMixin, Timestamped, Base):
    """The plan a facility is on from ``valid_from`` until the next row's date.

    The fee is per month before tax (as plans are priced to businesses: 50,000 yen 税別);
    a change of plan is a new row, so past statements can always be recomputed."""

    __tablename__ = "facility_plan"
    __table_args__ = (sa.UniqueConstraint("facility_id", "valid_from"),)

    plan: Mapped[str] = mapped_column(sa.String(32))
    monthly_fee: Mapped[int]
    tax_rate: Mapped[int] = mapped_column(default=10)
    valid_from: Mapped[dt.date]


class SystemFeeStatement(TenantMixin, Timestamped, Base):
    """One facility's statement of one month, issued once (the unique key) and kept."""

    __tablename__ = "system_fee_statement"
    __table_args__ = (sa.UniqueConstraint("facility_id", "month"),)

    #: ``YYYY-MM``.
    month: Mapped[str] = mapped_column(sa.String(7))
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    #: The days of each plan in the month: [{plan, monthly_fee, days, amount}].
    lines: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    subtotal: Mapped[int]
    tax_rate: Mapped[int]
    tax: Mapped[int]
    total: Mapped[int]
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(timezone=True))
