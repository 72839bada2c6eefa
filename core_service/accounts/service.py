"""Staff users: creation and password login."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts import login_throttle
from core_service.models import Facility, StaffUser
from core_service.platform.errors import InvalidInput, Unauthorized
from core_service.platform.security import hash_password, verify_password
from kippu_contract.roles import ROLES

# Verifying against a real hash when the user does not exist keeps the response time the
# same, so logins cannot be used to find out which e-mail addresses are staff.
_DUMMY_HASH = hash_password("kippu-timing-equaliser")


MIN_PASSWORD_LENGTH = 8


def hash_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.",
            f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください。",
        )
    return hash_password(password)


async def create_staff(
    session: AsyncSession,
    facility_id: int,
    email: str,
    password_hash: str,
    role: str,
    display_name: str = "",
) -> StaffUser:
    """A staff user; ``password_hash`` comes from :func:`hash_new_password`."""
    if role not in ROLES:
        raise InvalidInput(f"Role must be one of {', '.join(ROLES)}.")
    staff = StaffUser(
        facility_id=facility_id,
        email=email.strip().lower(),
        password_hash=password_hash,
        role=role,
        display_name=display_name,
    )
    session.add(staff)
    await session.flush()
    return staff


async def authenticate(
    session: AsyncSession, facility_slug: str, email: str, password: str
) -> tuple[StaffUser, Facility]:
    """The staff user and facility for correct credentials; Unauthorized otherwise.

    Every refusal has the same message and runs one Argon2 verification, and after
    repeated failures an account's password login pauses (login_throttle), so guessing
    is slow and says nothing about which part was wrong.
    """
    now = time.time()
    row = (
        await session.execute(
            sa.select(StaffUser, Facility)
            .join(Facility, Facility.id == StaffUser.facility_id)
            .where(Facility.slug == facility_slug, StaffUser.email == email.strip().lower())
            # Serialises concurrent guesses for one account on PostgreSQL (no-op on SQLite).
            .with_for_update(of=StaffUser)
        )
    ).first()
    if row is None or login_throttle.throttled(row[0].login_failures, now):
        verify_password(_DUMMY_HASH, password)
        await session.commit()
        raise _wrong_credentials()
    staff, facility = row
    if not staff.active or not verify_password(staff.password_hash, password):
        staff.login_failures = login_throttle.with_failure(staff.login_failures, now)
        await session.commit()
        raise _wrong_credentials()
    if staff.login_failures:
        staff.login_failures = None
        await session.commit()
    return staff, facility


def _wrong_credentials() -> Unauthorized:
    return Unauthorized(
        "Wrong facility, e-mail or password.",
        "施設・メールアドレス・パスワードが正しくありません。",
    )
