"""The core's periodic jobs, each defined once for both runners.

Every job is idempotent: running it twice, or again after a crash half-way, does no harm
(holds already expired stay expired, a message is claimed before it is sent, exports are
incremental). That is what lets the queue retry a failed or stalled job and lets the
in-process runner simply call each job again after its period.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core_service.jobs.resources import JobResources
from core_service.platform.settings import Settings

#: Seconds between two runs of the jobs that keep the day going (holds, mail).
SHORT_PERIOD_SECONDS = 2.0
#: Payment reconciliation asks providers over the network: every few minutes is enough.
RECONCILE_PERIOD_SECONDS = 300.0
#: Failed refunds wait minutes between attempts (refund_retries.backoff); a minute's tick is fine.
REFUND_RETRY_PERIOD_SECONDS = 60.0
#: Statements are monthly; looking every hour issues them early on the first of the month.
STATEMENT_PERIOD_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """A job run every ``period(settings)`` seconds (0: switched off)."""

    name: str
    run: Callable[[JobResources], Awaitable[object]]
    period: Callable[[Settings], float]
    description: str


def _every(seconds: float) -> Callable[[Settings], float]:
    return lambda _settings: seconds


async def expire_holds(resources: JobResources) -> int:
    from core_service.orders.expiry import expire_holds as expire

    async with resources.sessionmaker() as session:
        return await expire(session)


async def sweep_reservations(resources: JobResources) -> int:
    from core_service.catalog.reservations import sweep

    return await sweep(resources.engine)


async def deliver_mail(resources: JobResources) -> int:
    from core_service.mailing.outbox import deliver_due

    return await deliver_due(resources.sessionmaker, resources.settings)


async def deliver_webhooks(resources: JobResources) -> int:
    from core_service.webhooks.delivery import deliver_due

    return await deliver_due(resources.sessionmaker, resources.settings)


async def reconcile_payments(resources: JobResources) -> object:
    from core_service.payments.reconciliation import MIN_AGE, reconcile

    return await reconcile(
        resources.sessionmaker,
        resources.plugin_host,
        resources.settings,
        resources.signer,
        min_age=MIN_AGE,
    )


async def retry_refunds(resources: JobResources) -> object:
    from core_service.aftersales.refund_retries import retry_due_refunds

    return await retry_due_refunds(
        resources.sessionmaker, resources.plugin_host, resources.settings
    )


async def issue_statements(resources: JobResources) -> object:
    from core_service.billing.statements import Month, issue_month
    from core_service.models import utcnow

    # Last month's statements, issued once: every later run finds them issued.
    async with resources.sessionmaker() as session:
        issued = await issue_month(
            session, Month.before(utcnow().date()), prefix=resources.settings.statement_prefix
        )
    return len(issued)


async def export(resources: JobResources) -> object:
    # Imported here: the exporter loads DuckDB and Arrow (~60 MB), which a core that
    # does not export need not carry.
    from core_service.exports.exporter import export_async

    settings = resources.settings
    return await export_async(
        settings, engine=resources.engine, min_interval=settings.export_interval_seconds
    )


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(
        "expire_holds",
        expire_holds,
        _every(SHORT_PERIOD_SECONDS),
        "expire unpaid checkouts and give their places back",
    ),
    PeriodicJob(
        "sweep_reservations",
        sweep_reservations,
        _every(SHORT_PERIOD_SECONDS),
        "give back places left by crashed requests",
    ),
    PeriodicJob(
        "deliver_mail",
        deliver_mail,
        _every(SHORT_PERIOD_SECONDS),
        "send the mail outbox over SMTP (one delivery at a time: one global rate limit)",
    ),
    PeriodicJob(
        "deliver_webhooks",
        deliver_webhooks,
        _every(SHORT_PERIOD_SECONDS),
        "POST due webhook deliveries to facilities' endpoints, with retries and back-off",
    ),
    PeriodicJob(
        "reconcile_payments",
        reconcile_payments,
        _every(RECONCILE_PERIOD_SECONDS),
        "settle payments with their providers and give back money owed",
    ),
    PeriodicJob(
        "retry_refunds",
        retry_refunds,
        _every(REFUND_RETRY_PERIOD_SECONDS),
        "send failed refunds again with back-off (same idempotency key), then leave them to staff",
    ),
    PeriodicJob(
        "issue_statements",
        issue_statements,
        _every(STATEMENT_PERIOD_SECONDS),
        "issue last month's system-fee statement of every facility with a plan (once each)",
    ),
    PeriodicJob(
        "export",
        export,
        lambda settings: settings.export_interval_seconds,
        "incremental Parquet export for the workbench and notebooks",
    ),
)

JOBS_BY_NAME = {job.name: job for job in PERIODIC_JOBS}
