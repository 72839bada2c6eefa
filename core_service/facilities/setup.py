"""Creating facilities and switching their plugins on: used by the demo and by tests."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Facility, FacilityPlugin
from core_service.platform.errors import Conflict, InvalidInput
from core_service.platform.security import key_cipher
from kippu_contract.invoices import registration_number_problem
from kippu_contract.tokens import generate_signing_key


def check_registration_number(number: str) -> None:
    """Refuse (422) a registration number that is set but not valid; empty is allowed
    (the facility then issues plain receipts, not qualified invoices)."""
    if number and (problem := registration_number_problem(number)) is not None:
        raise InvalidInput(
            problem,
            "登録番号は T と13桁の数字で、チェックデジットが正しいものを入力してください。",
        )


async def create_facility(
    session: AsyncSession,
    secret_key: str,
    *,
    slug: str,
    name_ja: str,
    name_en: str,
    timezone: str = "Asia/Tokyo",
    tax_registration_number: str = "",
    contact_email: str = "",
    settings: dict[str, Any] | None = None,
) -> Facility:
    """A new facility with its own Ed25519 ticket-signing key.

    A registration number, when given, must be a valid one (T, 13 digits, check digit):
    it is printed on every receipt."""
    check_registration_number(tax_registration_number)
    if await session.scalar(sa.select(Facility.id).where(Facility.slug == slug)) is not None:
        raise Conflict(
            f"A facility with slug {slug!r} exists already.",
            f"スラッグ {slug!r} の施設は既にあります。",
            field="slug",
        )
    private_raw, public_text = generate_signing_key()
    facility = Facility(
        slug=slug,
        name_ja=name_ja,
        name_en=name_en,
        timezone=timezone,
        tax_registration_number=tax_registration_number,
        contact_email=contact_email,
        signing_key_encrypted=key_cipher(secret_key).encrypt(private_raw).decode(),
        signing_public_key=public_text,
        settings=settings or {},
    )
    session.add(facility)
    await session.flush()
    return facility


async def set_plugin(
    session: AsyncSession,
    facility_id: int,
    name: str,
    *,
    enabled: bool = True,
    options: dict[str, Any] | None = None,
) -> FacilityPlugin:
    row = await session.scalar(
        sa.select(FacilityPlugin).where(
            FacilityPlugin.facility_id == facility_id, FacilityPlugin.name == name
        )
    )
    if row is None:
        row = FacilityPlugin(facility_id=facility_id, name=name)
        session.add(row)
    row.enabled = enabled
    row.options = options or {}
    await session.flush()
    return row
