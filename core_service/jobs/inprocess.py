"""The in-process runner: every periodic job in its own loop inside a core process.

For the SQLite embedded default (``make demo``), where one process serves everything and a
separate worker would be one more thing to start. Each job runs in its own task, so a long
first export never holds up expiring holds or sending mail. Stopping waits for a job that
is running instead of cancelling it (an export's file writes run in threads that a
cancellation would not stop, and a half-sent batch of mail is better finished).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from core_service.jobs.definitions import PERIODIC_JOBS, PeriodicJob
from core_service.jobs.resources import JobResources

log = logging.getLogger(__name__)


async def run_job(job: PeriodicJob, resources: JobResources) -> object:
    """Run one job once, logging (not raising) its failure: the next period retries."""
    try:
        return await job.run(resources)
    except Exception:
        log.exception("background job %s failed", job.name)
        return None


async def run_all_once(resources: JobResources) -> None:
    """Run every switched-on job once, one after the other (tests and ``kippu jobs run``)."""
    for job in PERIODIC_JOBS:
        if job.period(resources.settings) > 0:
            await run_job(job, resources)


class InProcessRunner:
    """Runs :data:`PERIODIC_JOBS` in the current event loop until :meth:`stop`."""

    def __init__(self, resources: JobResources) -> None:
        self.resources = resources
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for job in PERIODIC_JOBS:
            period = job.period(self.resources.settings)
            if period > 0:
                self._tasks.append(
                    asyncio.create_task(self._loop(job, period), name=f"kippu job {job.name}")
                )

    async def _loop(self, job: PeriodicJob, period: float) -> None:
        while not self._stopping.is_set():
            await run_job(job, self.resources)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=period)

    async def stop(self) -> None:
        """Let running jobs end, then stop every loop."""
        self._stopping.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
