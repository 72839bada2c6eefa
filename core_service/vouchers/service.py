"""Managing a facility's vouchers (managers and owners): list, create, change.

Every create and change is in the audit log. The code and kind of a voucher never
change, because orders name the code they used; a voucher no longer wanted is switched
off (``active``), never deleted, so past orders keep pointing at it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import AuditLog, Product, Voucher, utcnow
from core_service.platform.errors import Conflict, InvalidInput, NotFound
from core_service.platform.tenancy import Tenant, refresh_after_rollback
from core_service.vouchers.uses import normalized_code
from kippu_contract.v1.vouchers import VOUCHER_KINDS, VoucherChangeIn, VoucherIn, VoucherOut

_CODE = re.compile(r"[A-Z0-9_-]{3,32}")
_CLEARABLE = ("max_uses", "valid_from", "valid_until")
MAX_DESCRIPTION_LENGTH = 200


class InvalidVoucher(InvalidInput):
    code = "invalid_voucher"


def voucher_out(voucher: Voucher) -> VoucherOut:
    return VoucherOut(
        id=voucher.id,
        code=voucher.code,
        kind=voucher.kind,
        value=voucher.value,
        product_ids=[int(i) for i in voucher.product_ids],
        max_uses=voucher.max_uses,
        uses=voucher.uses,
        valid_from=voucher.valid_from,
        valid_until=voucher.valid_until,
        active=voucher.active,
        description=voucher.description,
        created_at=voucher.created_at,
    )


async def vouchers_of(session: AsyncSession, tenant: Tenant) -> list[VoucherOut]:
    """The facility's vouchers, newest first."""
    rows = await session.scalars(
        sa.select(Voucher).where(Voucher.facility_id == tenant.id).order_by(Voucher.id.desc())
    )
    return [voucher_out(v) for v in rows]


def local_instant(text: str, timezone: str, *, end: bool) -> dt.datetime:
    """A facility-local date or date and time as a UTC instant. A date alone means the
    start of that day, or (``end``) the start of the next, so the whole day counts."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time())
        else:
            moment = dt.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(timezone))
        return moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):  # not a date; or the end of year 9999
        raise InvalidVoucher(
            f"{text!r} is not a date (2026-12-24) or a date and time (2026-12-24T18:00).",
            f"{text!r} は日付 (2026-12-24) または日時 (2026-12-24T18:00) ではありません。",
        ) from None


def _checked_value(kind: str, value: int) -> int:
    if kind not in VOUCHER_KINDS:
        raise InvalidVoucher(
            "The kind must be percent or fixed.", "種類は percent か fixed にしてください。"
        )
    if kind == "percent" and not 1 <= value <= 100:
        raise InvalidVoucher(
            "A percentage must be between 1 and 100.", "割引率は1〜100にしてください。"
        )
    if kind == "fixed" and not 1 <= value <= 10_000_000:
        raise InvalidVoucher(
            "A fixed discount must be between 1 and 10,000,000 yen.",
            "割引額は1〜10,000,000円にしてください。",
        )
    return value


def _checked_max_uses(max_uses: int | None) -> int | None:
    if max_uses is not None and not 1 <= max_uses <= 10_000_000:
        raise InvalidVoucher(
            "The usage limit must be between 1 and 10,000,000 (or none).",
            "利用上限は1〜10,000,000にしてください(上限なしも可)。",
        )
    return max_uses


async def _checked_products(session: AsyncSession, tenant: Tenant, ids: list[int]) -> list[int]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    found = set(
        await session.scalars(
            sa.select(Product.id).where(Product.facility_id == tenant.id, Product.id.in_(wanted))
        )
    )
    if missing := [i for i in wanted if i not in found]:
        raise InvalidVoucher(
            f"No such products: {missing}.", f"存在しない商品があります: {missing}。"
        )
    return wanted


def _checked_description(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise InvalidVoucher(
            f"The description may have at most {MAX_DESCRIPTION_LENGTH} characters.",
            f"説明は{MAX_DESCRIPTION_LENGTH}文字以内にしてください。",
        )
    return text


def _check_period(voucher: Voucher) -> None:
    if (
        voucher.valid_from is not None
        and voucher.valid_until is not None
        and voucher.valid_until <= voucher.valid_from
    ):
        raise InvalidVoucher(
            "The voucher must end after it begins.",
            "有効期限の終わりは始まりより後にしてください。",
        )


async def create_voucher(
    session: AsyncSession, tenant: Tenant, data: VoucherIn, *, actor: str
) -> VoucherOut:
    code = normalized_code(data.code)
    if not _CODE.fullmatch(code):
        raise InvalidVoucher(
            "A code has 3 to 32 letters, digits, '-' or '_'.",
            "コードは英数字・「-」・「_」の3〜32文字にしてください。",
        )
    tz = tenant.facility.timezone
    voucher = Voucher(
        facility_id=tenant.id,
        code=code,
        kind=data.kind,
        value=_checked_value(data.kind, data.value),
        product_ids=await _checked_products(session, tenant, data.product_ids),
        max_uses=_checked_max_uses(data.max_uses),
        uses=0,
        valid_from=local_instant(data.valid_from, tz, end=False) if data.valid_from else None,
        valid_until=local_instant(data.valid_until, tz, end=True) if data.valid_until else None,
        active=data.active,
        description=_checked_description(data.description),
    )
    _check_period(voucher)
    session.add(voucher)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        await refresh_after_rollback(session, tenant)
        raise Conflict(
            f"The code {code} exists already.", f"コード {code} はすでに使われています。"
        ) from None
    _audit(session, tenant, actor, "voucher.created", voucher, {"code": code})
    await session.commit()
    return voucher_out(voucher)


async def change_voucher(
    session: AsyncSession, tenant: Tenant, voucher_id: int, data: VoucherChangeIn, *, actor: str
) -> VoucherOut:
    voucher = await session.scalar(
        sa.select(Voucher)
        .where(Voucher.id == voucher_id, Voucher.facility_id == tenant.id)
        .with_for_update()
    )
    if voucher is None:
        raise NotFound("No such voucher.", "そのクーポンはありません。")
    if unknown := sorted(set(data.clear) - set(_CLEARABLE)):
        raise InvalidVoucher(
            f"Only {', '.join(_CLEARABLE)} can be cleared, not {unknown}.",
            f"クリアできるのは {', '.join(_CLEARABLE)} だけです({unknown} は不可)。",
        )
    tz = tenant.facility.timezone
    changes: dict[str, Any] = {}
    if data.value is not None:
        changes["value"] = _checked_value(voucher.kind, data.value)
    if data.product_ids is not None:
        changes["product_ids"] = await _checked_products(session, tenant, data.product_ids)
    if data.max_uses is not None:
        changes["max_uses"] = _checked_max_uses(data.max_uses)
    if data.valid_from is not None:
        changes["valid_from"] = local_instant(data.valid_from, tz, end=False)
    if data.valid_until is not None:
        changes["valid_until"] = local_instant(data.valid_until, tz, end=True)
    if data.active is not None:
        changes["active"] = data.active
    if data.description is not None:
        changes["description"] = _checked_description(data.description)
    for name in data.clear:
        changes[name] = None
    for name, value in changes.items():
        setattr(voucher, name, value)
    _check_period(voucher)
    _audit(
        session,
        tenant,
        actor,
        "voucher.changed",
        voucher,
        {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in changes.items()},
    )
    await session.commit()
    return voucher_out(voucher)


def _audit(
    session: AsyncSession,
    tenant: Tenant,
    actor: str,
    action: str,
    voucher: Voucher,
    data: dict[str, Any],
) -> None:
    session.add(
        AuditLog(
            facility_id=tenant.id,
            at=utcnow(),
            actor=actor,
            action=action,
            subject=f"voucher:{voucher.id}",
            data=data,
        )
    )
