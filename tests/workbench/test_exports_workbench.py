"""Exports for the workbench: payments (sales by method), device health, and the core's
export job that keeps the workbench's files fresh."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from core_service.exports import exporter, run_export
from core_service.exports.exporter import (
    LAST_RUN_FILE,
    ExportReport,
    export_async,
    seconds_since_last_run,
)
from core_service.exports.locking import directory_lock
from core_service.jobs.definitions import JOBS_BY_NAME
from core_service.jobs.inprocess import run_all_once
from core_service.jobs.resources import JobResources, open_resources
from core_service.models import Device, Payment
from core_service.platform.settings import Settings
from kippu_contract.facility_time import facility_today
from tests.support.workbench import Builder
from workbench.attendance import AttendanceState
from workbench.data_access import ExportSource

DAY = dt.date(2026, 11, 25)


def test_payments_are_exported_with_method_and_each_state_change(sqlite_settings: Settings) -> None:
    b = Builder(sqlite_settings)
    park = b.facility("park")
    (ticket,) = b.order(park, b.product(park), DAY)
    payment = b.pay(ticket, "konbini", 2000, state="pending")
    run_export(sqlite_settings)
    b.execute(sa.update(Payment).where(Payment.id == payment.id).values(state="paid"))
    run_export(sqlite_settings)
    b.close()
    assert sqlite_settings.export_dir is not None
    source = ExportSource(sqlite_settings.export_dir)
    assert source.sql("SELECT state FROM payments_log ORDER BY updated_at")["state"].tolist() == [
        "pending",
        "paid",
    ]
    assert source.sql("SELECT method, state, amount FROM payments").to_dict("records") == [
        {"method": "konbini", "state": "paid", "amount": 2000}
    ]


def test_device_heartbeats_are_exported_without_tokens(sqlite_settings: Settings) -> None:
    b = Builder(sqlite_settings)
    park = b.facility("park")
    kiosk = b.add(Device(facility_id=park.id, kind="kiosk", name="券売機1", token_hash="f" * 64))
    b.execute(
        sa.update(Device)
        .where(Device.id == kiosk.id)
        .values(status={"paper": "low", "printer": "ok"}, last_seen_at=dt.datetime.now(dt.UTC))
    )
    run_export(sqlite_settings)
    b.close()
    assert sqlite_settings.export_dir is not None
    source = ExportSource(sqlite_settings.export_dir)
    (row,) = source.sql("SELECT * FROM devices").to_dict("records")
    assert json.loads(row["status_json"]) == {"paper": "low", "printer": "ok"}
    assert row["kind"] == "kiosk" and not row["revoked"]
    files = list(Path(sqlite_settings.export_dir, "devices").rglob("*.parquet"))
    text = " ".join(str(duckdb.sql(f"SELECT * FROM '{f}'").fetchall()) for f in files)
    assert "f" * 64 not in text


# -- the core's export job ---------------------------------------------------------

INTERVAL = 0.5


@pytest.fixture
def exporting(sqlite_settings: Settings) -> Settings:
    """Settings whose background export is due every :data:`INTERVAL` seconds."""
    return dataclasses.replace(sqlite_settings, export_interval_seconds=INTERVAL)


def _workers(settings: Settings, n: int, body: Callable[..., Awaitable[None]]) -> None:
    """Run ``body(*resources)`` with the job resources of ``n`` workers (one engine each)."""

    async def go() -> None:
        async with contextlib.AsyncExitStack() as stack:
            workers = [await stack.enter_async_context(open_resources(settings)) for _ in range(n)]
            await body(*workers)

    asyncio.run(go())


async def _export_job(resources: JobResources) -> None:
    await JOBS_BY_NAME["export"].run(resources)


def _one_round(settings: Settings) -> None:
    _workers(settings, 1, run_all_once)


def _last_run(settings: Settings) -> float:
    assert settings.export_dir is not None
    return (settings.export_dir / LAST_RUN_FILE).stat().st_mtime_ns


def test_the_background_jobs_export_each_new_scan_for_the_attendance_page(
    exporting: Settings,
) -> None:
    """Scan to dashboard: a scan, the next export job, the page's next refresh."""
    b = Builder(exporting)
    park = b.facility("park")
    today = facility_today("Asia/Tokyo")
    first, second = b.order(park, b.product(park), today, quantity=2)
    gate = b.gate(park)
    b.scan(first, dt.datetime.now(dt.UTC), gate)
    _one_round(exporting)
    assert exporting.export_dir is not None
    state = AttendanceState(ExportSource(exporting.export_dir), facility_id=park.id)
    assert state.admitted == 1

    b.scan(second, dt.datetime.now(dt.UTC), gate)
    time.sleep(INTERVAL)  # the next period
    _one_round(exporting)
    b.close()
    state.tick()

    assert state.admitted == 2


def test_an_export_job_within_the_interval_does_not_export_again(exporting: Settings) -> None:
    stamps: list[float] = []

    async def body(resources: JobResources) -> None:
        await _export_job(resources)
        stamps.append(_last_run(exporting))
        await _export_job(resources)
        stamps.append(_last_run(exporting))

    _workers(exporting, 1, body)

    assert stamps[0] == stamps[1]


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch) -> list[ExportReport]:
    """Every export run the export job starts, as its report."""
    runs: list[ExportReport] = []

    async def recorded(*args: Any, **kwargs: Any) -> ExportReport:
        runs.append(await export_async(*args, **kwargs))
        return runs[-1]

    monkeypatch.setattr(exporter, "export_async", recorded)
    return runs


def test_a_worker_does_not_export_what_another_worker_just_exported(
    exporting: Settings, reports: list[ExportReport]
) -> None:
    async def body(one: JobResources, other: JobResources) -> None:
        await _export_job(one)
        await _export_job(other)

    _workers(exporting, 2, body)

    assert len(reports) == 2
    assert [r.skipped for r in reports] == [False, True]


def test_workers_whose_exports_fall_due_together_export_once(
    exporting: Settings, reports: list[ExportReport]
) -> None:
    async def body(*workers: JobResources) -> None:
        await asyncio.gather(*(_export_job(w) for w in workers))

    _workers(exporting, 3, body)

    assert len(reports) == 3
    assert [r.skipped for r in reports].count(False) == 1


def test_an_export_just_after_a_completed_one_is_skipped_under_the_lock(
    exporting: Settings,
) -> None:
    """A worker that found the export due just before another worker's run ended."""
    run_export(exporting)

    again = asyncio.run(export_async(exporting, min_interval=60))
    forced = asyncio.run(export_async(exporting))

    assert again.skipped and again.skip_reason == "recent" and "moments ago" in str(again)
    assert not forced.skipped


def test_the_export_job_skips_while_another_exporter_holds_the_lock(
    exporting: Settings,
) -> None:
    """``kippu export --follow`` beside the core: the job leaves the run to it."""
    b = Builder(exporting)
    b.facility("park")
    b.close()
    assert exporting.export_dir is not None
    exporting.export_dir.mkdir(parents=True)
    with directory_lock(exporting.export_dir) as acquired:
        assert acquired
        _one_round(exporting)
    assert seconds_since_last_run(exporting.export_dir) is None
    assert not list(exporting.export_dir.rglob("*.parquet"))

    _one_round(exporting)

    assert list(exporting.export_dir.rglob("*.parquet"))


def test_an_interval_of_zero_switches_the_export_job_off(
    sqlite_settings: Settings,
) -> None:
    off = dataclasses.replace(sqlite_settings, export_interval_seconds=0)

    _one_round(off)

    assert off.export_dir is not None and not off.export_dir.exists()
    assert JOBS_BY_NAME["export"].period(off) == 0


def test_export_interval_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"KIPPU_EXPORT_INTERVAL_SECONDS": "2.5"})

    assert settings.export_interval_seconds == 2.5
