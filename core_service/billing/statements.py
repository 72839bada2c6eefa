"""Monthly system-fee statements: computed from the plans, issued once, kept as issued.

A month's fee follows the plans in force on each of its days: a facility that goes live
(or changes plan) mid-month pays each plan's monthly fee pro rata by days, rounded down in
the facility's favour. Tax is computed once on the subtotal (fees are priced before tax, as
to businesses). A facility without a plan in force during the month gets no statement.

Issuing is idempotent: the first issue of a month stores the statement with its number
(``<platform prefix>-<YYYYMM>-<facility id>``); later issues return the stored one, even if
the plans were changed since (a statement, once sent, is not rewritten).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import AuditLog, Facility, FacilityPlan, SystemFeeStatement, utcnow
from core_service.platform.errors import InvalidInput

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, slots=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        found = _MONTH.fullmatch(
            text.strip(),
        )
        if found is None:
            raise InvalidInput(
                f"A month is written YYYY-MM, not {text!r}.",
                "月は YYYY-MM の形で指定してください。",
            )
        return cls(int(found.group(1)), int(found.group(2)))

    @classmethod
    def before(cls, day: dt.date) -> Month:
        """The month before ``day``'s (the one to bill on the first of a month)."""
        last = day.replace(day=1) - dt.timedelta(days=1)
        return cls(last.year, last.month)

    @property
    def first(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def plan_days(plans: list[FacilityPlan], month: Month) -> list[tuple[FacilityPlan, int]]:
    """Each plan in force during ``month`` with its number of days, in order."""
    ordered = sorted(plans, key=lambda p: p.valid_from)
    out: list[tuple[FacilityPlan, int]] = []
    for index, plan in enumerate(ordered):
        ends = ordered[index + 1].valid_from if index + 1 < len(ordered) else None
        start = max(plan.valid_from, month.first)
        stop = month.first + dt.timedelta(days=month.days)
        if ends is not None:
            stop = min(stop, ends)
        if stop > start:
            out.append((plan, (stop - start).days))
    return out


def statement_lines(plans: list[FacilityPlan], month: Month) -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []
    for plan, days in plan_days(plans, month):
        amount = plan.monthly_fee * days // month.days
        lines.append(
            {"plan": plan.plan, "monthly_fee": plan.monthly_fee, "days": days, "amount": amount}
        )
    return lines


async def _plans(session: AsyncSession, facility_id: int) -> list[FacilityPlan]:
    return list(
        await session.scalars(
            sa.select(FacilityPlan).where(FacilityPlan.facility_id == facility_id)
        )
    )


async def issue_statement(
    session: AsyncSession, facility: Facility, month: Month, *, prefix: str, actor: str
) -> SystemFeeStatement | None:
    """The facility's statement of ``month``, issued now if it was not yet; None when no
    plan was in force that month."""
    existing = await find_statement(session, facility.id, str(month))
    if existing is not None:
        return existing
    plans = await _plans(session, facility.id)
    lines = statement_lines(plans, month)
    if not lines:
        return None
    rates = {plan.tax_rate for plan, _ in plan_days(plans, month)}
    tax_rate = max(rates)  # one rate for a service; plans of one month share it in practice
    subtotal = sum(int(line["amount"]) for line in lines)  # type: ignore[call-overload]
    tax = subtotal * tax_rate // 100
    statement = SystemFeeStatement(
        facility_id=facility.id,
        month=str(month),
        number=f"{prefix}-{month.year:04d}{month.month:02d}-{facility.id:05d}",
        lines=lines,
        subtotal=subtotal,
        tax_rate=tax_rate,
        tax=tax,
        total=subtotal + tax,
        issued_at=utcnow(),
    )
    session.add(statement)
    session.add(
        AuditLog(
            facility_id=facility.id,
            at=utcnow(),
            actor=actor,
            action="billing.statement",
            subject=f"statement:{statement.number}",
            data={"month": str(month), "total": statement.total},
        )
    )
    try:
        await session.commit()
    except IntegrityError:
        # Issued meanwhile by another worker: that one is the statement.
        await session.rollback()
        found = await find_statement(session, facility.id, str(month))
        assert found is not None
        return found
    return statement


async def issue_month(
    session: AsyncSession, month: Month, *, prefix: str, actor: str = "system"
) -> list[SystemFeeStatement]:
    """Every facility's statement of ``month`` (facilities without a plan are skipped)."""
    facilities = list(await session.scalars(sa.select(Facility).order_by(Facility.id)))
    issued = []
    for facility in facilities:
        statement = await issue_statement(session, facility, month, prefix=prefix, actor=actor)
        if statement is not None:
            issued.append(statement)
    return issued


async def find_statement(
    session: AsyncSession, facility_id: int, month: str
) -> SystemFeeStatement | None:
    return await session.scalar(
        sa.select(SystemFeeStatement).where(
            SystemFeeStatement.facility_id == facility_id, SystemFeeStatement.month == month
        )
    )


async def statements_of(session: AsyncSession, facility_id: int) -> list[SystemFeeStatement]:
    return list(
        await session.scalars(
            sa.select(SystemFeeStatement)
            .where(SystemFeeStatement.facility_id == facility_id)
            .order_by(SystemFeeStatement.month.desc())
        )
    )


async def set_plan(
    session: AsyncSession,
    facility: Facility,
    *,
    plan: str,
    monthly_fee: int,
    valid_from: dt.date,
    tax_rate: int = 10,
    actor: str,
) -> FacilityPlan:
    """Put the facility on ``plan`` from ``valid_from`` (replacing a plan of that same day)."""
    if not plan.strip() or len(plan) > 32:
        raise InvalidInput("A plan needs a name of 1-32 characters.", "プラン名は1〜32文字です。")
    if monthly_fee < 0 or not 0 <= tax_rate <= 100:
        raise InvalidInput(
            "The fee and the tax rate cannot be negative.", "金額と税率は0以上です。"
        )
    row = await session.scalar(
        sa.select(FacilityPlan).where(
            FacilityPlan.facility_id == facility.id, FacilityPlan.valid_from == valid_from
        )
    )
    if row is None:
        row = FacilityPlan(facility_id=facility.id, valid_from=valid_from)
        session.add(row)
    row.plan, row.monthly_fee, row.tax_rate = plan.strip(), monthly_fee, tax_rate
    session.add(
        AuditLog(
            facility_id=facility.id,
            at=utcnow(),
            actor=actor,
            action="billing.plan",
            subject=f"facility:{facility.slug}",
            data={"plan": plan, "monthly_fee": monthly_fee, "valid_from": valid_from.isoformat()},
        )
    )
    await session.commit()
    return row
