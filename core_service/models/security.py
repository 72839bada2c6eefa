"""Rows that protect logins: recent password attempts per client address and login."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core_service.models.base import Base


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
