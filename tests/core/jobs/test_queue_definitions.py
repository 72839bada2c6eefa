"""The job queue's registrations: one procrastinate task per job, with its lock and cron."""

from __future__ import annotations

import dataclasses

import croniter
import pytest

from core_service.jobs.definitions import PERIODIC_JOBS
from core_service.jobs.queue import build_queue, conninfo, cron_for
from core_service.platform.settings import Settings

PG = Settings(database_url="postgresql://postgres@127.0.0.1:5432/kippu")


@pytest.mark.parametrize(
    ("seconds", "cron", "gap"),
    [(2, "* * * * * */2", 2), (5, "* * * * * */5", 5), (300, "*/5 * * * *", 300)],
)
def test_periods_become_cron_lines_of_the_same_cadence(seconds: int, cron: str, gap: int) -> None:
    assert cron_for(seconds) == cron
    times = croniter.croniter(cron, 0)
    first, second = times.get_next(float), times.get_next(float)
    assert second - first == gap


def test_every_periodic_job_is_a_locked_task_on_the_queue() -> None:
    queue = build_queue(PG)
    periodic = {task.task.name: task for task in queue.periodic_registry.periodic_tasks.values()}
    for job in PERIODIC_JOBS:
        task = queue.tasks[job.name]
        assert task.lock == job.name and task.queueing_lock == job.name
        assert periodic[job.name].cron == cron_for(job.period(PG))
    assert "retry_stalled_jobs" in periodic


def test_a_switched_off_export_is_not_registered() -> None:
    queue = build_queue(dataclasses.replace(PG, export_interval_seconds=0))
    assert "export" not in queue.tasks


def test_the_queue_needs_postgresql() -> None:
    assert conninfo(PG) == "postgresql://postgres@127.0.0.1:5432/kippu"
    with pytest.raises(ValueError, match="PostgreSQL"):
        conninfo(Settings(database_url="sqlite:///x.sqlite3"))
