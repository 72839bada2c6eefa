"""Exports for the workbench: payments (sales by method), device health, and the core's
background export that keeps the workbench's files fresh."""

from __future__ import annotations

import asyncio
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
from litestar.datastructures import State

from core_service.app import run_background_once
from core_service.exports import background, run_export
from core_service.exports.background import BackgroundExport, background_export, finish_export
from core_service.exports.exporter import (
    LAST_RUN_FILE,
    ExportReport,
    export_async,
    seconds_since_last_run,
)
from core_service.exports.locking import directory_lock
from core_service.models import Device, Payment
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from core_service.plugins.host import PluginHost, build_plugin_manager
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


# -- the core's background export ---------------------------------------------------------

INTERVAL = 0.5


@pytest.fixture
def exporting(sqlite_settings: Settings) -> Settings:
    """Settings whose background export is due every :data:`INTERVAL` seconds."""
    return dataclasses.replace(sqlite_settings, export_interval_seconds=INTERVAL)


def _workers(settings: Settings, n: int, body: Callable[..., Awaitable[None]]) -> None:
    """Run ``body(*states)`` with the app state of ``n`` core workers (one engine each),
    then let their exports end as the app's shutdown does."""

    async def go() -> None:
        engines = [make_engine(settings) for _ in range(n)]
        states = [
            State(
                {
                    "settings": settings,
                    "engine": engine,
                    "sessionmaker": make_sessionmaker(engine),
                    "plugin_host": PluginHost(build_plugin_manager()),
                }
            )
            for engine in engines
        ]
        try:
            await body(*states)
        finally:
            for state in states:
                await finish_export(state)
            for engine in engines:
                await engine.dispose()

    asyncio.run(go())


def _one_round(settings: Settings) -> None:
    async def body(state: State) -> None:
        await run_background_once(state)

    _workers(settings, 1, body)


def _last_run(settings: Settings) -> float:
    assert settings.export_dir is not None
    return (settings.export_dir / LAST_RUN_FILE).stat().st_mtime_ns


def test_the_background_round_exports_each_new_scan_for_the_attendance_page(
    exporting: Settings,
) -> None:
    """Scan to dashboard: a scan, the core's next due round, the page's next refresh."""
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
    time.sleep(INTERVAL)  # the next round that is due
    _one_round(exporting)
    b.close()
    state.tick()

    assert state.admitted == 2


def test_a_round_within_the_interval_does_not_export_again(exporting: Settings) -> None:
    stamps: list[float] = []

    async def body(state: State) -> None:
        await run_background_once(state)
        stamps.append(_last_run(exporting))
        await run_background_once(state)
        stamps.append(_last_run(exporting))

    _workers(exporting, 1, body)

    assert stamps[0] == stamps[1]


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch) -> list[ExportReport]:
    """Every export run the background work starts, as its report."""
    runs: list[ExportReport] = []

    async def recorded(*args: Any, **kwargs: Any) -> ExportReport:
        runs.append(await export_async(*args, **kwargs))
        return runs[-1]

    monkeypatch.setattr(background, "export_async", recorded)
    return runs


def test_a_worker_does_not_export_what_another_worker_just_exported(
    exporting: Settings, reports: list[ExportReport]
) -> None:
    async def body(one: State, other: State) -> None:
        await run_background_once(one)
        await run_background_once(other)

    _workers(exporting, 2, body)

    assert len(reports) == 1 and not reports[0].skipped


def test_workers_whose_exports_fall_due_together_export_once(
    exporting: Settings, reports: list[ExportReport]
) -> None:
    async def body(*workers: State) -> None:
        await asyncio.gather(*(run_background_once(w) for w in workers))

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


def test_the_background_export_skips_while_another_exporter_holds_the_lock(
    exporting: Settings,
) -> None:
    """``kippu export --follow`` beside the core: the core's round leaves the run to it."""
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

    _one_round(exporting)  # a new worker: due at once

    assert list(exporting.export_dir.rglob("*.parquet"))


def test_a_long_export_carries_on_beside_the_rounds_and_ends_before_shutdown(
    exporting: Settings,
) -> None:
    started: list[asyncio.Task[object]] = []

    async def body(state: State) -> None:
        schedule = background_export(state)
        await schedule.run_due(wait_seconds=0)  # the round does not wait for it
        assert schedule.task is not None and not schedule.task.done()
        started.append(schedule.task)  # type: ignore[arg-type]
        await schedule.run_due(wait_seconds=0)  # no second export while one runs
        assert schedule.task is started[0]

    _workers(exporting, 1, body)  # ends with finish_export, as the app's shutdown

    assert started[0].done() and not started[0].cancelled()
    assert exporting.export_dir is not None
    assert seconds_since_last_run(exporting.export_dir) is not None


def test_an_interval_of_zero_switches_the_background_export_off(
    sqlite_settings: Settings,
) -> None:
    off = dataclasses.replace(sqlite_settings, export_interval_seconds=0)

    _one_round(off)

    assert off.export_dir is not None and not off.export_dir.exists()
    assert not BackgroundExport(off, make_engine(off)).due()


def test_export_interval_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"KIPPU_EXPORT_INTERVAL_SECONDS": "2.5"})

    assert settings.export_interval_seconds == 2.5
