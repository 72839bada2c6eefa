"""Managers set a product's places per date (and per slot of a timed admission).

``PUT .../capacities`` sets one number for every date of a range: rows that do not exist
yet are created with it, existing rows get it with the same conditional UPDATE the sales
use (``... WHERE sold + held <= :capacity``), so a concurrent sale can never end up
above its row's capacity. If any date already has more places sold or held than the new
number, nothing changes and the answer is 409 ``capacity_below_sold`` naming those
dates. Setting the same number again changes nothing more, so a retry is harmless.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog.product_fields import MAX_PLACES
from core_service.catalog.setup import facility_product
from core_service.models import AuditLog, Capacity, Product, utcnow
from core_service.platform.database import affected_rows, insert_many_or_ignore
from core_service.platform.errors import Conflict, InvalidInput
from core_service.platform.tenancy import Tenant
from kippu_contract.v1.catalog import CapacityIn, CapacityOut

#: The longest range one request reads or sets.
MAX_DAYS = 366
#: The most (date, slot) cells one request sets: a year of a few slots.
MAX_CELLS = 10_000
#: Dates a refusal names at most.
NAMED_DATES = 10


def _dates(first: dt.date, last: dt.date) -> list[dt.date]:
    days = (last - first).days + 1
    if days < 1 or days > MAX_DAYS:
        raise InvalidInput(
            f"Choose a range of 1 to {MAX_DAYS} days (the end not before the start).",
            f"期間は {MAX_DAYS} 日以内で、終了日を開始日以降にしてください。",
            code="invalid_range",
        )
    return [first + dt.timedelta(days=i) for i in range(days)]


def _labels(product: Product, slot: str | None) -> list[str]:
    """The slots a change or a listing is about: "" is the whole day."""
    labels = product.slot_labels()
    if slot is None:
        return labels or [""]
    if (labels and slot in labels) or (not labels and slot == ""):
        return [slot]
    raise InvalidInput(
        f"{product.name_en} has no time slot {slot!r}"
        + (f"; its slots are {', '.join(labels)}." if labels else "."),
        f"{product.name_ja}に時間帯「{slot}」はありません。",
        code="unknown_slot",
    )


async def _rows(
    session: AsyncSession, product: Product, first: dt.date, last: dt.date, labels: list[str]
) -> dict[tuple[dt.date, str], tuple[int, int, int]]:
    """(capacity, sold, held) of the existing rows, by (date, slot)."""
    rows = await session.execute(
        sa.select(Capacity.date, Capacity.slot, Capacity.capacity, Capacity.sold, Capacity.held)
        .where(
            Capacity.facility_id == product.facility_id,
            Capacity.product_id == product.id,
            Capacity.date >= first,
            Capacity.date <= last,
            Capacity.slot.in_(labels),
        )
        .execution_options(populate_existing=True)
    )
    return {(d, s): (c, sold, held) for d, s, c, sold, held in rows}


async def capacities(
    session: AsyncSession, tenant: Tenant, product_id: int, first: dt.date, last: dt.date
) -> list[CapacityOut]:
    """The places of each date (and slot) of the range: its row, or the default."""
    product = await facility_product(session, tenant, product_id)
    dates, labels = _dates(first, last), _labels(product, None)
    rows = await _rows(session, product, first, last, labels)
    result = []
    for date in dates:
        for label in labels:
            found = rows.get((date, label))
            if found is None:
                default = product.slot_capacity(label)
                result.append(
                    CapacityOut(
                        date=date, slot=label, capacity=default, sold=0, held=0, explicit=False
                    )
                )
            else:
                cap, sold, held = found
                result.append(
                    CapacityOut(
                        date=date, slot=label, capacity=cap, sold=sold, held=held, explicit=True
                    )
                )
    return result


async def set_capacities(
    session: AsyncSession, tenant: Tenant, product_id: int, data: CapacityIn, *, actor: str
) -> list[CapacityOut]:
    """Set the places of every date of the range (see the module docstring)."""
    product = await facility_product(session, tenant, product_id)
    dates, labels = _dates(data.date_from, data.date_to), _labels(product, data.slot)
    if not 0 <= data.capacity <= MAX_PLACES:
        raise InvalidInput(
            f"The capacity must be a whole number from 0 to {MAX_PLACES}.",
            f"定員は 0 から {MAX_PLACES} までの整数で指定してください。",
            code="invalid_capacity",
        )
    if len(dates) * len(labels) > MAX_CELLS:
        raise InvalidInput(
            f"At most {MAX_CELLS} dates and slots at once; choose a shorter range.",
            f"一度に設定できるのは {MAX_CELLS} 件（日付×時間帯）までです。期間を短くしてください。",
            code="invalid_range",
        )
    before = await _rows(session, product, data.date_from, data.date_to, labels)
    await insert_many_or_ignore(
        session,
        Capacity,
        [
            {
                "facility_id": tenant.id,
                "product_id": product.id,
                "date": date,
                "slot": label,
                "capacity": data.capacity,
            }
            for date in dates
            for label in labels
            if (date, label) not in before
        ],
    )
    changed = await session.execute(
        sa.update(Capacity)
        .where(
            Capacity.facility_id == tenant.id,
            Capacity.product_id == product.id,
            Capacity.date >= data.date_from,
            Capacity.date <= data.date_to,
            Capacity.slot.in_(labels),
            Capacity.sold + Capacity.held <= data.capacity,
        )
        .values(capacity=data.capacity, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if affected_rows(changed) != len(dates) * len(labels):
        now = await _rows(session, product, data.date_from, data.date_to, labels)
        await session.rollback()
        below = sorted(
            {
                d.isoformat()
                for (d, _), (_, sold, held) in now.items()
                if sold + held > data.capacity
            }
        )
        shown = ", ".join(below[:NAMED_DATES]) + (" ..." if len(below) > NAMED_DATES else "")
        raise Conflict(
            f"More places are sold or held than {data.capacity} on {shown}; nothing was changed.",
            f"{shown} は販売済み・確保中の枚数が {data.capacity} を超えているため、変更しませんでした。",
            code="capacity_below_sold",
            dates=below,
        )
    session.add(
        AuditLog(
            facility_id=tenant.id,
            at=utcnow(),
            actor=actor,
            action="capacity.update",
            subject=f"product:{product.id}",
            data={
                "before": {
                    f"{d.isoformat()} {s}".strip(): cap for (d, s), (cap, _, _) in before.items()
                },
                "after": {
                    "date_from": data.date_from.isoformat(),
                    "date_to": data.date_to.isoformat(),
                    "slots": labels,
                    "capacity": data.capacity,
                },
            },
        )
    )
    await session.commit()
    return await capacities(session, tenant, product.id, data.date_from, data.date_to)
