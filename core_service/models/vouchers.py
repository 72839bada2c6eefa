"""Discount codes (vouchers) a facility hands out, and how often each was used."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core_service.models.base import Base, TenantMixin, Timestamped


class Voucher(TenantMixin, Timestamped, Base):
    """A percentage or fixed-yen discount code (see ``core_service.vouchers``).

    ``code`` is stored upper-cased, so the unique constraint makes codes unique per
    facility regardless of case. ``uses`` counts the orders holding a use now: taken
    at placement with a conditional UPDATE, given back when an unpaid order expires.
    """

    __tablename__ = "voucher"
    __table_args__ = (
        sa.UniqueConstraint("facility_id", "code"),
        sa.CheckConstraint("kind IN ('percent', 'fixed')", name="kind"),
        sa.CheckConstraint("value >= 1", name="value_positive"),
        sa.CheckConstraint("kind <> 'percent' OR value <= 100", name="percent_at_most_100"),
        sa.CheckConstraint("uses >= 0", name="uses_not_negative"),
    )

    code: Mapped[str] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(8))  # percent | fixed
    #: Percent (1-100) off each matching line, or yen off the matching lines together.
    value: Mapped[int]
    #: Products the discount applies to; empty means every product.
    product_ids: Mapped[list[Any]] = mapped_column(default=list)
    #: Orders that may use the code in all; None means no limit.
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    #: Valid from this instant (inclusive) until that one (exclusive), UTC; None: open.
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str] = mapped_column(sa.String(200), default="")
