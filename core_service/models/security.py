"""Rows that protect logins: recent password attempts per client address and login, and
the deployment's platform operators (not tenant-owned)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core_service.models.base import Base, Timestamped


class LoginAttempt(Base):
    """One password attempt that failed or is being checked right now.

    Not tenant-owned: it is written before anyone is authenticated, for staff logins
    naming a facility that may not exist. ``login_key`` is a SHA-256 digest of the login
    (its kind, facility and e-mail address), so the table holds no e-mail addresses. See
    :mod:`core_service.accounts.login_throttle`.
    """

    __tablename__ = "login_attempt"
    __table_args__ = (
        sa.Index("ix_login_attempt_address_at", "address", "at"),
        sa.Index("ix_login_attempt_login_key_address", "login_key", "address"),
    )

    address: Mapped[str] = mapped_column(sa.String(64))
    login_key: Mapped[str] = mapped_column(sa.String(64))
    #: Unix time (seconds) of the attempt: compared with plain arithmetic on every backend.
    at: Mapped[float] = mapped_column(sa.Float, index=True)


class PlatformOperator(Timestamped, Base):
    """A person who runs the deployment: creates facilities and their first owners.

    Not tenant-owned and not a staff member of any facility (a ``StaffUser`` belongs to
    one facility): operators log in at ``/api/v1/platform/login`` with a token of their own
    kind that no staff guard admits, and staff tokens pass no operator guard
    (:mod:`core_service.accounts.operators`).
    """

    __tablename__ = "platform_operator"

    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True)
    #: Operator tokens carry the version they were issued under (as staff tokens do).
    token_version: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
