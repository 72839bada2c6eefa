"""The in-process runner (SQLite, ``make demo``) and the choice of runner."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from litestar.testing import AsyncTestClient

from core_service.app import create_app
from core_service.jobs import definitions
from core_service.jobs.definitions import PERIODIC_JOBS, PeriodicJob
from core_service.jobs.inprocess import InProcessRunner
from core_service.jobs.resources import JobResources, open_resources
from core_service.platform.settings import Settings


def test_the_runner_follows_the_database() -> None:
    assert Settings(database_url="sqlite:///x.sqlite3").job_runner == "inprocess"
    assert Settings(database_url="postgresql://db/kippu").job_runner == "queue"
    forced = Settings.from_env(
        {"KIPPU_DATABASE_URL": "postgresql://db/kippu", "KIPPU_JOB_RUNNER": "inprocess"}
    )
    assert forced.job_runner == "inprocess"
    with pytest.raises(ValueError, match="KIPPU_JOB_RUNNER"):
        Settings(job_runner="cron")


def test_every_job_has_one_definition_with_a_positive_period(sqlite_settings: Settings) -> None:
    names = [job.name for job in PERIODIC_JOBS]
    assert len(names) == len(set(names))
    assert {"expire_holds", "deliver_mail", "reconcile_payments", "export"} <= set(names)
    assert all(job.period(sqlite_settings) > 0 for job in PERIODIC_JOBS)


def _jobs(monkeypatch: pytest.MonkeyPatch, *jobs: PeriodicJob) -> None:
    monkeypatch.setattr("core_service.jobs.inprocess.PERIODIC_JOBS", jobs)


async def test_a_long_job_holds_up_no_other_and_stopping_waits_for_it(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[str] = []
    release = asyncio.Event()

    async def long_export(resources: JobResources) -> None:
        runs.append("export started")
        await release.wait()
        runs.append("export finished")

    async def quick(resources: JobResources) -> None:
        runs.append("quick")

    _jobs(
        monkeypatch,
        PeriodicJob("export", long_export, lambda s: 60.0, "long"),
        PeriodicJob("quick", quick, lambda s: 0.01, "quick"),
    )
    async with open_resources(sqlite_settings) as resources:
        runner = InProcessRunner(resources)
        runner.start()
        await asyncio.sleep(0.2)
        assert runs.count("quick") >= 3 and "export finished" not in runs
        stopping = asyncio.create_task(runner.stop())
        await asyncio.sleep(0.1)
        assert not stopping.done()  # waits for the running export: no cancel
        release.set()
        await stopping
    assert runs[-1] == "export finished" or runs[-2] == "export finished"


async def test_a_failing_job_is_logged_and_runs_again_next_period(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    async def flaky(resources: JobResources) -> None:
        calls.append(1)
        raise RuntimeError("relay down")

    _jobs(monkeypatch, PeriodicJob("flaky", flaky, lambda s: 0.01, "fails"))
    async with open_resources(sqlite_settings) as resources:
        runner = InProcessRunner(resources)
        runner.start()
        await asyncio.sleep(0.1)
        await runner.stop()
    assert len(calls) >= 2
    assert "background job flaky failed" in caplog.text


async def test_the_core_runs_the_jobs_only_with_the_in_process_runner(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []

    async def mark(resources: JobResources) -> None:
        ran.append(resources.settings.job_runner)

    _jobs(monkeypatch, PeriodicJob("mark", mark, lambda s: 0.01, "marks"))
    for runner in ("inprocess", "queue"):
        settings = dataclasses.replace(sqlite_settings, job_runner=runner)
        async with AsyncTestClient(app=create_app(settings)):
            await asyncio.sleep(0.1)
    assert ran and set(ran) == {"inprocess"}


async def test_the_hold_expiry_job_runs_through_the_definition(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[object] = []

    async def expire(session: object) -> int:
        seen.append(session)
        return 0

    monkeypatch.setattr("core_service.orders.expiry.expire_holds", expire)
    async with open_resources(sqlite_settings) as resources:
        assert await definitions.JOBS_BY_NAME["expire_holds"].run(resources) == 0
    assert len(seen) == 1
