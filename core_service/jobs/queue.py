"""The job queue for PostgreSQL deployments: procrastinate, run by ``kippu worker``.

Why procrastinate (docs/jobs.md says more): it keeps its queue in the PostgreSQL database
kippu already runs, so a deployment gains no broker; its periodic tasks are deferred through
a unique row per (task, period), so each runs once per period however many workers run;
jobs carry locks (one delivery of mail at a time, hence one global rate limit), retries with
exponential back-off and worker heartbeats, from which :func:`retry_stalled_jobs` finds the
jobs of a worker that was killed and runs them again.

Each of :data:`~core_service.jobs.definitions.PERIODIC_JOBS` becomes a task with the job's
name as its lock and queueing lock: the same job never runs twice at once, and a job that
is still running (a long first export) lets the next periods pass instead of piling up.
"""

from __future__ import annotations

import logging
from typing import Any

import procrastinate
from procrastinate import JobContext, RetryStrategy
from procrastinate.exceptions import UniqueViolation
from procrastinate.jobs import Status

from core_service.jobs.definitions import PERIODIC_JOBS, PeriodicJob
from core_service.jobs.resources import JobResources
from core_service.platform.settings import Settings

log = logging.getLogger(__name__)

#: The procrastinate queue every periodic job runs on.
PERIODIC_QUEUE = "kippu"
#: A failed job is tried again after 2, 4, 8, 16 s; the next period tries anyway.
RETRY = RetryStrategy(max_attempts=5, exponential_wait=2)
#: Seconds between two looks for the jobs of dead workers.
STALLED_CHECK_SECONDS = 5
#: Finished jobs stay this long, as the record of what ran (failed ones stay until an
#: operator looks at them: ``procrastinate`` or SQL over ``procrastinate_jobs``).
SUCCEEDED_JOBS_KEPT_HOURS = 24
RESOURCES_KEY = "resources"


def conninfo(settings: Settings) -> str:
    """The libpq connection string of the core's database (procrastinate uses psycopg)."""
    url = settings.database_url
    if not url.startswith("postgresql"):
        raise ValueError("the job queue needs PostgreSQL (KIPPU_DATABASE_URL=postgresql://...)")
    return "postgresql://" + url.split("://", 1)[1]


def cron_for(seconds: float) -> str:
    """A cron line (croniter's six fields, seconds last) for "every ``seconds``"."""
    whole = max(1, round(seconds))
    if whole < 60:
        return f"* * * * * */{whole}"
    minutes = max(1, whole // 60)
    if minutes < 60:
        return f"*/{minutes} * * * *"
    return f"0 */{max(1, minutes // 60)} * * *"


def _task_function(job: PeriodicJob) -> Any:
    async def run_periodic(context: JobContext, timestamp: int) -> None:
        resources: JobResources = context.additional_context[RESOURCES_KEY]
        result = await job.run(resources)
        log.debug("job %s (period %s): %s", job.name, timestamp, result)

    run_periodic.__name__ = run_periodic.__qualname__ = job.name
    return run_periodic


async def retry_stalled_jobs(context: JobContext, timestamp: int) -> None:
    """Run again the jobs of workers whose heartbeat stopped (killed, lost their host)."""
    resources: JobResources = context.additional_context[RESOURCES_KEY]
    assert context.app is not None
    manager = context.app.job_manager
    stalled = await manager.get_stalled_jobs(
        seconds_since_heartbeat=resources.settings.worker_stalled_seconds
    )
    for job in stalled:
        try:
            await manager.retry_job(job)
        except UniqueViolation:
            # The next period of the same job is queued already (the queueing lock): it
            # does the same work, so the stalled one ends as failed, freeing its lock.
            await manager.finish_job(job, status=Status.FAILED, delete_job=False)
            log.warning("job %s (%s) of a dead worker left to its next run", job.id, job.task_name)
        else:
            log.warning("job %s (%s) of a dead worker runs again", job.id, job.task_name)


async def delete_finished_jobs(context: JobContext, timestamp: int) -> None:
    """Delete succeeded jobs older than :data:`SUCCEEDED_JOBS_KEPT_HOURS`."""
    assert context.app is not None
    await context.app.job_manager.delete_old_jobs(
        nb_hours=SUCCEEDED_JOBS_KEPT_HOURS, queue=PERIODIC_QUEUE
    )


def build_queue(settings: Settings, **pool_options: Any) -> procrastinate.App:
    """The procrastinate app with every periodic job of ``settings`` registered."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo(settings), **pool_options)
    )
    for job in PERIODIC_JOBS:
        period = job.period(settings)
        if period <= 0:
            continue
        task = app.task(
            name=job.name,
            queue=PERIODIC_QUEUE,
            lock=job.name,
            queueing_lock=job.name,
            pass_context=True,
            retry=RETRY,
        )(_task_function(job))
        app.periodic(cron=cron_for(period), periodic_id=job.name)(task)
    for housekeeping, seconds in (
        (retry_stalled_jobs, STALLED_CHECK_SECONDS),
        (delete_finished_jobs, 3600),
    ):
        name = housekeeping.__name__
        task = app.task(name=name, queue=PERIODIC_QUEUE, queueing_lock=name, pass_context=True)(
            housekeeping
        )
        app.periodic(cron=cron_for(seconds), periodic_id=name)(task)
    return app
