"""Facilities (tenants), their plugin switches, staff users and devices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core_service.models.base import Base, TenantMixin, Timestamped
from core_service.models.export_seq import ExportSequenced


class Facility(ExportSequenced, Timestamped, Base):
    """A tenant: one park or museum. Not tenant-owned itself."""

    __tablename__ = "facility"
    # config_version belongs to the database's triggers: never sent in an INSERT, never
    # fetched back after one (only tenant_cache reads it, freshly).
    __mapper_args__ = {"eager_defaults": False}

    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name_ja: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Asia/Tokyo")
    #: 適格請求書発行事業者登録番号: "T" and 13 digits, printed on receipts and tickets.
    tax_registration_number: Mapped[str] = mapped_column(sa.String(14), default="")
    contact_email: Mapped[str] = mapped_column(sa.String(254), default="")
    #: Ed25519 private key (raw 32 bytes), Fernet-encrypted with the deployment secret.
    signing_key_encrypted: Mapped[str] = mapped_column(sa.Text)
    #: Ed25519 public key, raw 32 bytes as URL-safe base64; gates verify QR tokens with it.
    signing_public_key: Mapped[str] = mapped_column(sa.String(64))
    #: Facility settings that are not plugin options (payment methods per channel, ...).
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Bumped by database triggers (migration 0010) on every change of this row, its
    #: plugins, products or price categories: the per-worker tenant cache's validator.
    config_version: Mapped[int] = mapped_column(sa.BigInteger, server_default="1")

    def name(self, locale: str) -> str:
        return self.name_ja if locale == "ja" else self.name_en


class FacilityPlugin(TenantMixin, Timestamped, Base):
    """Whether a facility enabled an installed plugin, and that plugin's options."""

    __tablename__ = "facility_plugin"
    __table_args__ = (sa.UniqueConstraint("facility_id", "name"),)

    name: Mapped[str] = mapped_column(sa.String(100))
    enabled: Mapped[bool] = mapped_column(default=True)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)


class StaffUser(TenantMixin, Timestamped, Base):
    """A person who works for one facility, with one role there."""

    __tablename__ = "staff_user"
    __table_args__ = (sa.UniqueConstraint("facility_id", "email"),)

    email: Mapped[str] = mapped_column(sa.String(254))
    display_name: Mapped[str] = mapped_column(sa.String(200), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    #: owner > manager > staff > viewer (see kippu_contract.roles).
    role: Mapped[str] = mapped_column(sa.String(16))
    active: Mapped[bool] = mapped_column(default=True)
    #: Staff tokens carry the version they were issued under; logging out bumps it, so
    #: every token issued before stops working at once (core_service.accounts.auth).
    token_version: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))


class Device(ExportSequenced, TenantMixin, Timestamped, Base):
    """A kiosk or a gate scanner, authenticated by a device token."""

    __tablename__ = "device"

    kind: Mapped[str] = mapped_column(sa.String(16))  # "kiosk" | "gate"
    name: Mapped[str] = mapped_column(sa.String(100))
    #: SHA-256 of the bearer token; the token itself is shown once and never stored.
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    enrolment_code_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    enrolment_expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    #: Last heartbeat as reported by the device (printer, paper, terminal, version).
    status: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Product ids this kiosk may sell; empty means every kiosk-channel product.
    allowed_product_ids: Mapped[list[Any]] = mapped_column(default=list)


class AuditLog(TenantMixin, Base):
    """Who did what to which record; append-only."""

    __tablename__ = "audit_log"

    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(100))
    subject: Mapped[str] = mapped_column(sa.String(200), default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
