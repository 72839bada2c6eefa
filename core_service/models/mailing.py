"""Mail campaigns (F24): one row per mailing, one row per recipient.

A campaign is created by the workbench with customers' pseudonymous keys; the core resolves
them to addresses, re-checks consent and queues one outbox message per recipient. The
campaign's status (queued, sent, failed) is derived from its recipients' outbox messages.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core_service.models.base import Base, BigId, TenantMixin, Timestamped

CAMPAIGN_KINDS = ("marketing", "service")


class MailCampaign(TenantMixin, Timestamped, Base):
    __tablename__ = "mail_campaign"

    #: "marketing" goes only to customers who opted in; "service" (e.g. a closure notice
    #: to today's ticket holders) goes to every selected customer.
    kind: Mapped[str] = mapped_column(sa.String(16), default="marketing")
    created_by: Mapped[str] = mapped_column(sa.String(254))
    subject_ja: Mapped[str] = mapped_column(sa.String(300))
    subject_en: Mapped[str] = mapped_column(sa.String(300))
    body_ja: Mapped[str] = mapped_column(sa.Text)
    body_en: Mapped[str] = mapped_column(sa.Text)
    #: The segment as the workbench described it, for the record (not re-evaluated).
    segment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Keys handed in that were skipped: unknown, other facility, or no consent.
    skipped: Mapped[int] = mapped_column(default=0)


class MailRecipient(TenantMixin, Base):
    """One customer of a campaign and the outbox message queued for them."""

    __tablename__ = "mail_recipient"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "customer_id"),)

    campaign_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("mail_campaign.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("customer.id", ondelete="CASCADE")
    )
    outbox_message_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("outbox_message.id", ondelete="SET NULL"), index=True
    )
