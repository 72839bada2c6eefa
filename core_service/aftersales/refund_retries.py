"""Failed refunds are sent again by themselves, with back-off, until a limit (F6, F7).

A refund fails when the provider refuses or cannot be reached; before this job it stayed
``failed`` until someone pressed "retry". Now the periodic ``retry_refunds`` job sends each
failed refund again after a back-off that doubles with every attempt (2, 4, 8 ... minutes,
at most :data:`MAX_BACKOFF`), and also picks up a refund left ``pending`` or ``sending`` by
a crash. After :data:`MAX_AUTOMATIC_ATTEMPTS` it stops and the refund waits, visible in
``GET /api/v1/refunds?state=failed`` and the workbench, for staff to look into. Every retry
reuses the refund's idempotency key, so the provider never pays twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.aftersales.refunds import send_refund
from core_service.aftersales.states import STALE_SENDING
from core_service.models import Refund, utcnow
from core_service.platform.settings import Settings
from core_service.platform.tenancy import load_tenant
from core_service.plugins.host import PluginHost
from kippu_contract.states import RefundState

log = logging.getLogger(__name__)

#: Attempts after which the job leaves a refund to staff (about 4 hours of trying).
MAX_AUTOMATIC_ATTEMPTS = 8
FIRST_BACKOFF = dt.timedelta(minutes=2)
MAX_BACKOFF = dt.timedelta(hours=2)
#: A refund still ``pending`` this long was never sent (the request crashed after commit).
UNSENT_AFTER = dt.timedelta(minutes=1)
ACTOR = "system:refund-retry"


@dataclass(slots=True)
class RetryReport:
    sent: int = 0
    failed: int = 0
    given_up: int = 0


def backoff(attempts: int) -> dt.timedelta:
    """How long after its last attempt a refund tried ``attempts`` times is due again."""
    doubled: dt.timedelta = FIRST_BACKOFF * (1 << min(max(attempts - 1, 0), 16))
    return min(doubled, MAX_BACKOFF)


def is_due(refund: Refund, now: dt.datetime) -> bool:
    if refund.attempts >= MAX_AUTOMATIC_ATTEMPTS:
        return False
    since = now - refund.updated_at
    if refund.state == RefundState.FAILED:
        return since >= backoff(refund.attempts)
    if refund.state == RefundState.PENDING:
        return since >= UNSENT_AFTER
    return refund.state == RefundState.SENDING and since >= STALE_SENDING


async def _candidates(session: AsyncSession) -> list[Refund]:
    return list(
        await session.scalars(
            sa.select(Refund)
            .where(
                Refund.state.in_((RefundState.FAILED, RefundState.PENDING, RefundState.SENDING)),
                Refund.attempts < MAX_AUTOMATIC_ATTEMPTS,
            )
            .order_by(Refund.facility_id, Refund.id)
        )
    )


async def retry_due_refunds(
    sessionmaker: async_sessionmaker[AsyncSession],
    host: PluginHost,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
) -> RetryReport:
    """Send every refund that is due again; one session per refund, so one that breaks
    does not hold up the others."""
    now = now or utcnow()
    report = RetryReport()
    async with sessionmaker() as session:
        due = [(r.facility_id, r.id) for r in await _candidates(session) if is_due(r, now)]
    for facility_id, refund_id in due:
        async with sessionmaker() as session:
            tenant = await load_tenant(session, host, facility_id=facility_id)
            try:
                refund = await send_refund(
                    session, tenant, refund_id, settings=settings, actor=ACTOR
                )
            except Exception:  # one broken refund must not stop the run
                log.exception("retrying refund %s failed", refund_id)
                report.failed += 1
                continue
        if refund.state == RefundState.FAILED:
            report.failed += 1
            if refund.attempts >= MAX_AUTOMATIC_ATTEMPTS:
                report.given_up += 1
                log.warning("refund %s left to staff after %s attempts", refund_id, refund.attempts)
        else:
            report.sent += 1
    return report
