"""Pausing password guessing without letting anyone lock someone else out.

Two limits, counted in the ``login_attempt`` table so that every worker process sees the
same numbers:

- **per login and client address**: after ``MAX_PER_LOGIN`` failures within
  ``WINDOW_SECONDS`` that login pauses *from that address only*, so an attacker
  elsewhere cannot pause a manager's (or a visitor's) password login;
- **per client address**: after ``MAX_PER_ADDRESS`` failures within the window, across
  all logins, the address pauses, so one address cannot try a little on every account.

A paused attempt is refused with 429 and ``Retry-After`` *before* any Argon2 work, so a
flood of bogus logins costs one indexed count each rather than 145 ms of CPU.

Each attempt is written first and counted second: the attempt counts the rows of its
login and address up to its own id, so of many concurrent guesses exactly the first
``MAX_PER_LOGIN`` go on to the password check and the rest are refused, with no lock
held while Argon2 runs. A refused attempt deletes its own row (refusals do not prolong
a pause), a failed one leaves it (that row is the failure), a successful one clears its
login's rows from that address.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import LoginAttempt
from core_service.platform.errors import TooManyAttempts

MAX_PER_LOGIN = 5
MAX_PER_ADDRESS = 30
WINDOW_SECONDS = 15 * 60


def login_key(kind: str, scope: str | int, login: str) -> str:
    """The stored name of a login: a digest, so the table holds no e-mail addresses."""
    return hashlib.sha256(f"{kind}\x00{scope}\x00{login.strip().lower()}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Attempt:
    """A password attempt allowed to go on to the password check."""

    id: int
    address: str
    login_key: str


async def begin(session: AsyncSession, address: str, key: str) -> Attempt:
    """Record an attempt and decide whether it may check a password.

    Raises :class:`TooManyAttempts` (429) if the login is paused from this address or
    the address is paused. Commits, so no transaction stays open while Argon2 runs.
    """
    now = time.time()
    since = now - WINDOW_SECONDS
    # Forget what no longer counts, here rather than in a job: the table stays as small
    # as the last quarter hour's failures.
    await session.execute(sa.delete(LoginAttempt).where(LoginAttempt.at < since))
    attempt = LoginAttempt(address=address, login_key=key, at=now)
    session.add(attempt)
    await session.commit()
    earlier = sa.and_(LoginAttempt.at >= since, LoginAttempt.id <= attempt.id)
    per_login = await _window(
        session, earlier, LoginAttempt.address == address, LoginAttempt.login_key == key
    )
    per_address = await _window(session, earlier, LoginAttempt.address == address)
    for (count, oldest), limit in ((per_login, MAX_PER_LOGIN), (per_address, MAX_PER_ADDRESS)):
        if count > limit:
            await session.execute(sa.delete(LoginAttempt).where(LoginAttempt.id == attempt.id))
            await session.commit()
            raise _paused(oldest + WINDOW_SECONDS - now)
    await session.commit()
    return Attempt(attempt.id, address, key)


async def succeeded(session: AsyncSession, attempt: Attempt) -> None:
    """The password was right: this login's failures from this address are forgiven."""
    await session.execute(
        sa.delete(LoginAttempt).where(
            LoginAttempt.address == attempt.address, LoginAttempt.login_key == attempt.login_key
        )
    )
    await session.commit()


async def forget_login(session: AsyncSession, key: str) -> None:
    """A new password was set: earlier failures against the old one no longer count."""
    await session.execute(sa.delete(LoginAttempt).where(LoginAttempt.login_key == key))


async def _window(session: AsyncSession, *where: sa.ColumnElement[bool]) -> tuple[int, float]:
    row = (
        await session.execute(
            sa.select(sa.func.count(), sa.func.min(LoginAttempt.at)).where(*where)
        )
    ).one()
    return int(row[0]), float(row[1] or 0.0)


def _paused(seconds: float) -> TooManyAttempts:
    minutes = max(1, math.ceil(seconds / 60))
    return TooManyAttempts(
        f"Too many failed logins. Please try again in {minutes} minutes.",
        f"ログインの失敗が続いたため、一時的に停止しています。{minutes}分後にお試しください。",
        retry_after=max(1, math.ceil(seconds)),
    )
