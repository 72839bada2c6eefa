"""Platform operators: their accounts, their login, and the facilities they create.

An operator runs the deployment (``kippu platform operator add`` makes one); it is not a
staff member of any facility. Logging in goes through the same Argon2 check and login
throttle as staff logins, with a login key of its own kind. Creating a facility makes
its signing key (:func:`core_service.facilities.setup.create_facility`) and its first
owner in one transaction, and writes the facility's first audit row.
"""

from __future__ import annotations

import re
import zoneinfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts import login_throttle
from core_service.accounts.auth import issue_operator_token
from core_service.accounts.service import check_new_password, create_staff, one_time_password
from core_service.facilities.setup import create_facility
from core_service.mailing.addresses import is_email_address
from core_service.models import Facility, PlatformOperator, StaffUser
from core_service.platform import audit
from core_service.platform.errors import Conflict, InvalidInput, Unauthorized
from core_service.platform.principals import OperatorPrincipal
from core_service.platform.security import (
    Signer,
    hash_password,
    hash_password_in_thread,
    verify_password_in_thread,
)
from kippu_contract.v1.platform import (
    NewFacilityOut,
    OperatorLoginIn,
    OperatorLoginOut,
    PlatformFacilityIn,
    PlatformFacilityOut,
)

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_DUMMY_HASH = hash_password("kippu-operator-timing-equaliser")


async def add_operator(session: AsyncSession, email: str, password: str) -> PlatformOperator:
    """A new operator (the ``kippu platform operator add`` command); 409 if one exists."""
    email = email.strip().lower()
    if not is_email_address(email):
        raise InvalidInput(
            "Enter a valid e-mail address.", "正しいメールアドレスを入力してください。"
        )
    exists = await session.scalar(
        sa.select(PlatformOperator.id).where(PlatformOperator.email == email)
    )
    if exists is not None:
        raise Conflict(
            f"An operator {email} exists already.", f"運営者 {email} は既に登録されています。"
        )
    check_new_password(password)
    operator = PlatformOperator(email=email, password_hash=await hash_password_in_thread(password))
    session.add(operator)
    await session.commit()
    return operator


async def log_in_operator(
    session: AsyncSession, signer: Signer, login: OperatorLoginIn, address: str
) -> OperatorLoginOut:
    """An operator token for correct credentials; 401 (the same for every refusal) else."""
    email = login.email.strip().lower()
    attempt = await login_throttle.begin(
        session, address, login_throttle.login_key("operator", "platform", email)
    )
    operator = await session.scalar(
        sa.select(PlatformOperator).where(PlatformOperator.email == email)
    )
    await session.commit()  # no transaction open while Argon2 runs
    if operator is None:
        await verify_password_in_thread(_DUMMY_HASH, login.password)
        raise _wrong_credentials()
    if (
        not await verify_password_in_thread(operator.password_hash, login.password)
        or not operator.active
    ):
        raise _wrong_credentials()
    await login_throttle.succeeded(session, attempt)
    return OperatorLoginOut(
        token=issue_operator_token(signer, operator.id, operator.token_version),
        email=operator.email,
    )


async def log_out_operator(session: AsyncSession, principal: OperatorPrincipal) -> None:
    """End every token of the operator."""
    await session.execute(
        sa.update(PlatformOperator)
        .where(PlatformOperator.id == principal.id)
        .values(token_version=PlatformOperator.token_version + 1)
    )
    await session.commit()


def _wrong_credentials() -> Unauthorized:
    return Unauthorized(
        "Wrong e-mail address or password.", "メールアドレスまたはパスワードが正しくありません。"
    )


def _check_new_facility(data: PlatformFacilityIn) -> None:
    """Refuse (422, naming the field) what would make a broken facility."""
    problems: list[tuple[str, str, str]] = []
    if not SLUG_PATTERN.match(data.slug.strip()):
        problems.append(
            (
                "slug",
                "The slug takes lower-case letters, digits and hyphens (at most 64).",
                "スラッグは半角英小文字・数字・ハイフン（64文字以内）で入力してください。",
            )
        )
    if not data.name_ja.strip() or not data.name_en.strip():
        problems.append(
            (
                "name",
                "Both names (ja, en) are needed.",
                "施設名（日本語・英語）を入力してください。",
            )
        )
    try:
        zoneinfo.ZoneInfo(data.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(
            ("timezone", "Unknown time zone.", "タイムゾーンが正しくありません（例: Asia/Tokyo）。")
        )
    for field, value in (("contact_email", data.contact_email), ("owner_email", data.owner_email)):
        if not is_email_address(value.strip()):
            problems.append(
                (
                    field,
                    f"{field}: enter a valid e-mail address.",
                    "正しいメールアドレスを入力してください。",
                )
            )
    if problems:
        field, en, ja = problems[0]
        raise InvalidInput(en, ja, field=field)


async def create_facility_with_owner(
    session: AsyncSession, secret_key: str, data: PlatformFacilityIn, *, actor: str
) -> NewFacilityOut:
    """The facility, its signing key and its first owner, committed together."""
    _check_new_facility(data)
    made = data.owner_password is None
    password = one_time_password() if data.owner_password is None else data.owner_password
    check_new_password(password)  # 422 before anything is written
    password_hash = await hash_password_in_thread(password)
    facility = await create_facility(
        session,
        secret_key,
        slug=data.slug.strip(),
        name_ja=data.name_ja.strip(),
        name_en=data.name_en.strip(),
        timezone=data.timezone,
        tax_registration_number=data.tax_registration_number.strip(),
        contact_email=data.contact_email.strip(),
    )
    owner = await create_staff(
        session, facility.id, data.owner_email, password_hash, "owner", display_name=""
    )
    audit.record(
        session,
        facility.id,
        actor,
        "facility.create",
        subject=facility.slug,
        data={
            "after": {
                "slug": facility.slug,
                "name_ja": facility.name_ja,
                "name_en": facility.name_en,
                "timezone": facility.timezone,
                "contact_email": facility.contact_email,
                "tax_registration_number": facility.tax_registration_number,
                "owner_email": owner.email,
            }
        },
    )
    await session.commit()
    (out,) = await list_facilities(session, facility_id=facility.id)
    return NewFacilityOut(
        facility=out, owner_email=owner.email, owner_password=password if made else ""
    )


async def list_facilities(
    session: AsyncSession, *, facility_id: int | None = None
) -> list[PlatformFacilityOut]:
    """Every facility (or the one named), oldest first, with its active owners."""
    query = sa.select(Facility).order_by(Facility.id)
    if facility_id is not None:
        query = query.where(Facility.id == facility_id)
    facilities = list(await session.scalars(query))
    owners: dict[int, list[str]] = {}
    for fid, email in await session.execute(
        sa.select(StaffUser.facility_id, StaffUser.email)
        .where(
            StaffUser.role == "owner",
            StaffUser.active.is_(True),
            StaffUser.facility_id.in_([f.id for f in facilities]),
        )
        .order_by(StaffUser.id)
    ):
        owners.setdefault(fid, []).append(email)
    return [
        PlatformFacilityOut(
            id=f.id,
            slug=f.slug,
            name_ja=f.name_ja,
            name_en=f.name_en,
            timezone=f.timezone,
            contact_email=f.contact_email,
            tax_registration_number=f.tax_registration_number,
            created_at=f.created_at,
            owners=owners.get(f.id, []),
        )
        for f in facilities
    ]
