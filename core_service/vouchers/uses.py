"""Finding a usable voucher for a checkout and counting its uses.

A use is taken with one conditional UPDATE (``uses < max_uses``), so of two buyers
racing for the last use one gets it and the other a clear refusal; placement takes it
in the same transaction as its other preparations and gives it back if the order is
then not written. The order keeps ``voucher_id`` while it holds the use:

- an unpaid order that expires gives its use back (``orders.expiry``); kippu has no
  cancellation of an unpaid order, which only ever expires;
- an expired order revived by a late payment takes the use again, even past the limit:
  the visitor paid the discounted price (``orders.issuing.revive_expired``);
- a paid order that is cancelled keeps its use. The discount was granted on a sale
  that took place, and a code shared for "the first 100 orders" must not be re-openable
  by buying and cancelling.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Voucher
from core_service.platform.database import updated_one
from core_service.platform.errors import Conflict, InvalidInput, NotFound
from core_service.platform.tenancy import Tenant
from core_service.vouchers.discounts import Terms


class VoucherUnknown(NotFound):
    code = "voucher_unknown"


class VoucherNotValid(InvalidInput):
    code = "voucher_not_valid"


class VoucherUsedUp(Conflict):
    code = "voucher_used_up"


class VoucherNotApplicable(InvalidInput):
    code = "voucher_not_applicable"


#: Every refusal of a code, for callers that show it beside the code's field.
REFUSALS = (VoucherUnknown, VoucherNotValid, VoucherUsedUp, VoucherNotApplicable)


def normalized_code(code: str) -> str:
    """Codes are compared without regard to case or surrounding spaces."""
    return code.strip().upper()


def terms_of(voucher: Voucher) -> Terms:
    return Terms(voucher.kind, voucher.value, frozenset(int(i) for i in voucher.product_ids))


async def usable_voucher(
    session: AsyncSession, tenant: Tenant, code: str, now: dt.datetime
) -> Voucher:
    """The facility's voucher with this code, if it can be used now; else a refusal
    saying why (unknown, not valid now, used up)."""
    voucher = await session.scalar(
        sa.select(Voucher).where(
            Voucher.facility_id == tenant.id, Voucher.code == normalized_code(code)
        )
    )
    if voucher is None:
        raise VoucherUnknown(
            "This voucher code is not known.", "このクーポンコードは存在しません。"
        )
    if not voucher.active or (voucher.valid_until is not None and now >= voucher.valid_until):
        raise VoucherNotValid(
            "This voucher code has expired.", "このクーポンコードは有効期限が切れています。"
        )
    if voucher.valid_from is not None and now < voucher.valid_from:
        raise VoucherNotValid(
            "This voucher code is not valid yet.", "このクーポンコードはまだ使えません。"
        )
    if voucher.max_uses is not None and voucher.uses >= voucher.max_uses:
        raise used_up()
    return voucher


def used_up() -> VoucherUsedUp:
    return VoucherUsedUp(
        "This voucher code has been used up.", "このクーポンコードは利用上限に達しました。"
    )


def not_applicable() -> VoucherNotApplicable:
    return VoucherNotApplicable(
        "This voucher code does not apply to the tickets chosen.",
        "このクーポンコードは選択されたチケットには使えません。",
    )


async def take_use(session: AsyncSession, facility_id: int, voucher_id: int) -> bool:
    """One more use, if the limit allows (a conditional UPDATE: racing buyers of the
    last use get one success). Not committed: the caller's transaction decides."""
    return await updated_one(
        session,
        sa.update(Voucher)
        .where(
            Voucher.id == voucher_id,
            Voucher.facility_id == facility_id,
            Voucher.active.is_(True),
            sa.or_(Voucher.max_uses.is_(None), Voucher.uses < Voucher.max_uses),
        )
        .values(uses=Voucher.uses + 1),
    )


async def retake_use(session: AsyncSession, facility_id: int, voucher_id: int) -> None:
    """One more use regardless of the limit: a paid order that had given its use back."""
    await session.execute(
        sa.update(Voucher)
        .where(Voucher.id == voucher_id, Voucher.facility_id == facility_id)
        .values(uses=Voucher.uses + 1)
        .execution_options(synchronize_session=False)
    )


async def give_back_use(session: AsyncSession, facility_id: int, voucher_id: int) -> None:
    """One use fewer: the order that held it was not written, or expired unpaid."""
    await session.execute(
        sa.update(Voucher)
        .where(Voucher.id == voucher_id, Voucher.facility_id == facility_id, Voucher.uses > 0)
        .values(uses=Voucher.uses - 1)
        .execution_options(synchronize_session=False)
    )
