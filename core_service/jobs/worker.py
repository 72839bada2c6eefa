"""``kippu worker``: a process that runs the core's jobs from the procrastinate queue.

Start as many as the load needs, on as many machines: the queue hands each job to one of
them. A worker stops gracefully on SIGTERM/SIGINT (its running jobs finish); one that is
killed leaves its jobs ``doing`` until another worker's ``retry_stalled_jobs`` notices the
missing heartbeat and runs them again; the jobs are idempotent (docs/jobs.md).
"""

from __future__ import annotations

import logging

from core_service.jobs.queue import PERIODIC_QUEUE, RESOURCES_KEY, build_queue
from core_service.jobs.resources import open_resources
from core_service.platform.settings import Settings

log = logging.getLogger(__name__)

#: Jobs one worker runs at once; each is I/O-bound (database, SMTP, providers).
DEFAULT_CONCURRENCY = 4


async def run_worker(settings: Settings, *, concurrency: int = DEFAULT_CONCURRENCY) -> None:
    """Run jobs until stopped by a signal."""
    queue = build_queue(settings, min_size=1, max_size=concurrency + 2)
    heartbeat = max(1.0, settings.worker_stalled_seconds / 3)
    async with open_resources(settings) as resources, queue.open_async():
        log.info("kippu worker: %s jobs at once on %s", concurrency, PERIODIC_QUEUE)
        await queue.run_worker_async(
            queues=[PERIODIC_QUEUE],
            concurrency=concurrency,
            additional_context={RESOURCES_KEY: resources},
            update_heartbeat_interval=heartbeat,
            stalled_worker_timeout=settings.worker_stalled_seconds,
        )
