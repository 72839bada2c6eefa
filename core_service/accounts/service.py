"""Staff users: creation and password login."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts import login_throttle
from core_service.mailing.addresses import is_email_address
from core_service.models import Facility, StaffUser
from core_service.platform.errors import Conflict, InvalidInput, Unauthorized
from core_service.platform.security import hash_password, new_token, verify_password_in_thread
from kippu_contract.roles import ROLES

# Verifying against a real hash when the user does not exist keeps the response time the
# same, so logins cannot be used to find out which e-mail addresses are staff.
_DUMMY_HASH = hash_password("kippu-timing-equaliser")


MIN_PASSWORD_LENGTH = 8


def hash_new_password(password: str) -> str:
    check_new_password(password)
    return hash_password(password)


def check_new_password(password: str) -> None:
    """Refuse (422) a password too short to be a new one."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.",
            f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください。",
            field="password",
        )


def one_time_password() -> str:
    """A password the core makes and shows once (16 URL-safe characters)."""
    return new_token(12)


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
        raise InvalidInput(
            f"Role must be one of {', '.join(ROLES)}.",
            f"役割は {', '.join(ROLES)} のいずれかです。",
            field="role",
        )
    email = email.strip().lower()
    if not is_email_address(email):
        raise InvalidInput(
            "Enter a valid e-mail address.",
            "正しいメールアドレスを入力してください。",
            field="email",
        )
    taken = await session.scalar(
        sa.select(StaffUser.id).where(
            StaffUser.facility_id == facility_id, StaffUser.email == email
        )
    )
    if taken is not None:
        raise Conflict(
            f"{email} has a staff account here already.",
            f"{email} は既にこの施設のスタッフとして登録されています。",
        )
    staff = StaffUser(
        facility_id=facility_id,
        email=email,
        password_hash=password_hash,
        role=role,
        display_name=display_name,
    )
    session.add(staff)
    await session.flush()
    return staff


async def authenticate(
    session: AsyncSession, facility_slug: str, email: str, password: str, address: str
) -> tuple[StaffUser, Facility]:
    """The staff user and facility for correct credentials; Unauthorized otherwise.

    Every refusal has the same message and runs one Argon2 verification (in a worker
    thread), and repeated failures pause that login from that client address, or the
    address altogether (login_throttle: 429 before any Argon2 work), so guessing is slow,
    cannot lock anyone out from elsewhere, and says nothing about which part was wrong.
    """
    attempt = await login_throttle.begin(
        session, address, login_throttle.login_key("staff", facility_slug, email)
    )
    row = (
        await session.execute(
            sa.select(StaffUser, Facility)
            .join(Facility, Facility.id == StaffUser.facility_id)
            .where(Facility.slug == facility_slug, StaffUser.email == email.strip().lower())
        )
    ).first()
    # End the read before the ~145 ms of Argon2: no connection is held meanwhile.
    await session.commit()
    if row is None:
        await verify_password_in_thread(_DUMMY_HASH, password)
        raise _wrong_credentials()
    staff, facility = row
    if not await verify_password_in_thread(staff.password_hash, password) or not staff.active:
        raise _wrong_credentials()
    await login_throttle.succeeded(session, attempt)
    return staff, facility


def _wrong_credentials() -> Unauthorized:
    return Unauthorized(
        "Wrong facility, e-mail or password.",
        "施設・メールアドレス・パスワードが正しくありません。",
    )
