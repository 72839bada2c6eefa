"""Outgoing webhooks (F18): endpoints, the event outbox, deliveries and their attempts.

An event row and one delivery row per subscribed, active endpoint are written in the
transaction of the state change they announce (the transactional outbox); the delivery
worker (``core_service.webhooks.delivery``) sends them later and logs every attempt.
Changing an endpoint bumps ``facility.config_version`` (a trigger of migration 0012), so
the device paths' cached facility knows which event types have subscribers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core_service.models.base import Base, BigId, StateType, TenantMixin, Timestamped, utcnow
from kippu_contract.states import WebhookDeliveryState


class WebhookEndpoint(TenantMixin, Timestamped, Base):
    """A URL of an outside system and the events it receives. Configuration only: the
    delivery worker never writes this row (each write moves the facility's version)."""

    __tablename__ = "webhook_endpoint"

    url: Mapped[str] = mapped_column(sa.String(2000))
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    #: Event types (``kippu_contract.webhooks.EVENT_TYPES``) this endpoint receives.
    events: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    #: The HMAC secret, Fernet-encrypted with a key derived from the deployment secret.
    secret_encrypted: Mapped[str] = mapped_column(sa.Text)


class WebhookEvent(TenantMixin, Base):
    """One announced state change, written in the change's own transaction; append-only.
    The id orders a facility's events; ``uuid`` is what receivers see."""

    __tablename__ = "webhook_event"

    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    type: Mapped[str] = mapped_column(sa.String(32))
    #: The exact JSON sent (the ``WebhookEvent`` envelope): every retry signs these bytes.
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class WebhookDelivery(TenantMixin, Timestamped, Base):
    """One event on its way to one endpoint (states in ``webhooks.states``)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "endpoint_id"),
        # The worker's two questions: what is due, and what is an endpoint's next event.
        sa.Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_delivery_queue", "endpoint_id", "status", "event_id"),
    )

    event_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("webhook_event.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("webhook_endpoint.id", ondelete="CASCADE")
    )
    status: Mapped[WebhookDeliveryState] = mapped_column(
        StateType(WebhookDeliveryState), default=WebhookDeliveryState.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    #: While ``sending``: when the claim lapses and another worker may send it again.
    lease_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(sa.String(2000), default="")
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(TenantMixin, Base):
    """One POST of a delivery: what the endpoint answered, or why it could not."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (sa.UniqueConstraint("delivery_id", "number"),)

    delivery_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("webhook_delivery.id", ondelete="CASCADE")
    )
    #: 1 for the first attempt of the delivery.
    number: Mapped[int]
    started_at: Mapped[datetime]
    duration_ms: Mapped[int]
    status_code: Mapped[int | None]
    error: Mapped[str] = mapped_column(sa.String(2000), default="")
