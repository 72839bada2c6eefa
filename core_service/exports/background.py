"""The core's background export: an incremental export every few seconds.

Each core worker's background round (``core_service.app.run_background_once``) calls
:func:`export_due`. An export is due when ``settings.export_interval_seconds`` have passed
since this worker last tried and since the last completed run by anyone (the stamp file
of :func:`~core_service.exports.exporter.seconds_since_last_run`), so several workers,
or ``kippu export --follow`` running beside them, export about once per interval between
them; the exporter checks the stamp again under its lock, and a worker that finds the lock
held skips the round.

The export runs in its own task on the worker's engine: the round waits for it only a
bounded time, so a long first export of a large database does not hold up expiring holds
and delivering mail, and the next rounds start no second export while it runs. At
shutdown :func:`finish_export` waits for the running export instead of cancelling it,
since its file writes run in threads that a cancellation would not stop.
"""

from __future__ import annotations

import asyncio
import logging
import time

from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncEngine

from core_service.exports.exporter import ExportReport, export_async, seconds_since_last_run
from core_service.exports.storage import export_store
from core_service.platform.settings import Settings

log = logging.getLogger(__name__)


class BackgroundExport:
    """One worker's schedule of background exports, and the export it is running."""

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.settings = settings
        self.engine = engine
        self.interval = float(settings.export_interval_seconds)
        self.task: asyncio.Task[ExportReport] | None = None
        self._next_try = 0.0  # time.monotonic() of this worker's next look

    def due(self) -> bool:
        """Whether to start an export now (and, if not, when to look again)."""
        if self.interval <= 0:
            return False
        now = time.monotonic()
        if now < self._next_try:
            return False
        self._next_try = now + self.interval
        age = seconds_since_last_run(export_store(self.settings))
        if age is not None and age < self.interval:
            # Someone else exported moments ago: look again when that run is due.
            self._next_try = now + (self.interval - age)
            return False
        return True

    async def run_due(self, wait_seconds: float) -> None:
        """Start an export if one is due; wait up to ``wait_seconds`` for the running one."""
        if self.task is not None and self.task.done():
            self._collect(self.task)
            self.task = None
        # In a thread: on an object store, reading the stamp is a request.
        if self.task is None and await asyncio.to_thread(self.due):
            self.task = asyncio.create_task(self._export(), name="kippu background export")
        if self.task is not None:
            await asyncio.wait({self.task}, timeout=wait_seconds)
            if self.task.done():
                self._collect(self.task)
                self.task = None

    async def finish(self) -> None:
        """Wait for the running export, if any (at shutdown)."""
        if self.task is not None:
            await asyncio.wait({self.task})
            self._collect(self.task)
            self.task = None

    async def _export(self) -> ExportReport:
        return await export_async(self.settings, engine=self.engine, min_interval=self.interval)

    @staticmethod
    def _collect(task: asyncio.Task[ExportReport]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            # The next due round retries; the workbench shows the last export meanwhile.
            log.error("background export failed", exc_info=error)
        else:
            log.debug("%s", task.result())


def background_export(state: State) -> BackgroundExport:
    """The worker's :class:`BackgroundExport`, made on first use from the app state."""
    schedule: BackgroundExport | None = getattr(state, "background_export", None)
    if schedule is None:
        schedule = BackgroundExport(state.settings, state.engine)
        state.background_export = schedule
    return schedule


async def export_due(state: State, wait_seconds: float) -> None:
    """The background round's export step (see the module docstring)."""
    await background_export(state).run_due(wait_seconds)


async def finish_export(state: State) -> None:
    """Wait for the worker's running background export, if it started one."""
    schedule: BackgroundExport | None = getattr(state, "background_export", None)
    if schedule is not None:
        await schedule.finish()
