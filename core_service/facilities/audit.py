"""Reading the audit log of a facility: newest first, a page at a time.

Rows are written by :func:`core_service.platform.audit.record` wherever a change is made.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import AuditLog
from core_service.platform.errors import InvalidInput
from kippu_contract.v1.staff import AuditEntryOut, AuditPageOut

MAX_LIMIT = 200


async def audit_page(
    session: AsyncSession, facility_id: int, *, limit: int = 50, before: int | None = None
) -> AuditPageOut:
    """Up to ``limit`` entries of the facility older than entry ``before`` (if given)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit must be between 1 and {MAX_LIMIT}.",
            f"limit は1から{MAX_LIMIT}の間で指定してください。",
            field="limit",
        )
    query = sa.select(AuditLog).where(AuditLog.facility_id == facility_id)
    if before is not None:
        query = query.where(AuditLog.id < before)
    rows = list(await session.scalars(query.order_by(AuditLog.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPageOut(
        entries=[
            AuditEntryOut(
                id=r.id, at=r.at, actor=r.actor, action=r.action, subject=r.subject, data=r.data
            )
            for r in rows
        ],
        next_before=rows[-1].id if more and rows else None,
    )
