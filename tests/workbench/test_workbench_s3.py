"""The workbench and the notebooks on exports in an S3-compatible store (moto on loopback),
and readers that never see an export half-written, locally or in a store."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pytest

from core_service.exports import run_export
from core_service.exports.storage import export_store
from core_service.exports.writer import PartitionedWriter
from core_service.platform.settings import Settings
from kippu_contract.export_schema import TABLES, ExportTable
from kippu_contract.export_store import ExportStore, LastRun, new_run_id
from tests.support import REPO_ROOT
from tests.support.notebook import run_notebook
from tests.support.s3 import S3Bucket, on_s3, s3_bucket, s3_endpoint  # noqa: F401
from tests.support.workbench import Builder, at
from workbench.attendance import AttendanceState
from workbench.data_access import ExportSource
from workbench.export_files import ExportListing
from workbench.sales import SalesState
from workbench.settings import WorkbenchSettings

DAY = dt.date(2026, 11, 25)
NOTEBOOK = REPO_ROOT / "notebooks" / "attendance.ipynb"


@pytest.fixture
def builder(sqlite_settings: Settings) -> Iterator[Builder]:
    b = Builder(sqlite_settings)
    try:
        yield b
    finally:
        b.close()


def _park_day(b: Builder) -> int:
    """A facility with sales by two methods, entries, an exit and a cancelled ticket."""
    park = b.facility("park")
    product = b.product(park)
    north, south = b.gate(park, "North"), b.gate(park, "South")
    tickets = b.order(park, product, DAY, quantity=4)
    b.pay(tickets[0], "card", 8000)
    kiosk = b.order(park, product, DAY, quantity=2, channel="kiosk")
    b.pay(kiosk[0], "paypay", 4000)
    for i, ticket in enumerate([*tickets[:3], kiosk[0]]):
        b.scan(ticket, at(DAY, 9 + i), north if i % 2 else south)
    b.scan(tickets[0], at(DAY, 15), north, direction="exit")
    b.cancel(kiosk[1])
    return park.id


def _figures(source: ExportSource, facility_id: int) -> dict[str, Any]:
    attendance = AttendanceState(source, facility_id=facility_id, date=DAY)
    sales = SalesState(source, facility_id=facility_id, date_from=DAY, date_to=DAY)
    tables = {
        name: source.sql(f"SELECT * FROM {name} ORDER BY id").to_dict("records") for name in TABLES
    }
    return {
        "admitted": attendance.admitted,
        "valid": attendance.valid,
        "in_park": attendance.in_park,
        "per_hour": attendance.per_hour.to_dict("records"),
        "by_gate": attendance.by_gate.to_dict("records"),
        "sales": (sales.total_amount, sales.total_quantity),
        "by_method": sales.breakdown("method").to_dict("records"),
        "tables": tables,
    }


def test_the_workbench_shows_the_same_numbers_from_s3_as_from_a_directory(
    sqlite_settings: Settings,
    s3_bucket: S3Bucket,  # noqa: F811
    builder: Builder,
) -> None:
    facility_id = _park_day(builder)
    run_export(sqlite_settings)
    run_export(on_s3(sqlite_settings, s3_bucket))
    env = {"KIPPU_EXPORT_URL": s3_bucket.url(), "KIPPU_S3_ENDPOINT_URL": s3_bucket.endpoint_url}
    settings = WorkbenchSettings.from_env(env)

    local = _figures(ExportSource(sqlite_settings.export_dir or ""), facility_id)
    remote = _figures(ExportSource(settings.export_store()), facility_id)

    assert local["admitted"] == 4 and local["sales"] == (12000, 6)
    assert remote == local


def test_a_source_on_s3_picks_up_the_next_export(
    sqlite_settings: Settings,
    s3_bucket: S3Bucket,  # noqa: F811
    builder: Builder,
) -> None:
    s3 = on_s3(sqlite_settings, s3_bucket)
    park = builder.facility("park")
    first, second = builder.order(park, builder.product(park), DAY, quantity=2)
    builder.scan(first, at(DAY, 10))
    run_export(s3)
    state = AttendanceState(ExportSource(s3_bucket.store()), facility_id=park.id, date=DAY)
    assert state.admitted == 1

    builder.scan(second, at(DAY, 11))
    run_export(s3)
    state.tick()

    assert state.admitted == 2


@pytest.fixture(params=["directory", "s3"])
def exporting(request: pytest.FixtureRequest, sqlite_settings: Settings) -> Settings:
    """Settings exporting into a local directory, then into a bucket."""
    if request.param == "directory":
        return sqlite_settings
    return on_s3(sqlite_settings, request.getfixturevalue("s3_bucket"))


def _counts(source: ExportSource) -> tuple[int, int, int]:
    source.refresh()
    row = source.sql(
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines), "
        "(SELECT count(*) FROM tickets_log)"
    ).iloc[0]
    return int(row.iloc[0]), int(row.iloc[1]), int(row.iloc[2])


def test_a_reader_during_an_export_sees_the_old_export_then_the_new_one(
    exporting: Settings, builder: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held up after its orders and order lines are written, an export shows none of them."""
    park = builder.facility("park")
    product = builder.product(park)
    builder.order(park, product, DAY, quantity=2)
    run_export(exporting)
    store = export_store(exporting)
    reader = ExportSource(store)
    assert _counts(reader) == (1, 1, 2)
    builder.order(park, product, DAY, quantity=3)
    at_tickets, release = threading.Event(), threading.Event()
    write = PartitionedWriter.write

    def held_up(self: PartitionedWriter, table: ExportTable, batch: pa.Table) -> int:
        if table.name == "tickets":
            at_tickets.set()
            assert release.wait(30)
        return write(self, table, batch)

    monkeypatch.setattr(PartitionedWriter, "write", held_up)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(run_export, exporting)
        try:
            assert at_tickets.wait(30)
            orders_files = [i.path for i in store.parquet_files("orders")]
            during = (_counts(reader), _counts(ExportSource(store)))
        finally:
            release.set()
        running.result(60)

    assert len(orders_files) == 2  # the running export's file is there, unpublished
    assert during == ((1, 1, 2), (1, 1, 2))
    assert _counts(reader) == (2, 2, 5)


def test_a_run_published_while_listing_is_listed_again(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files listed across a publish may be half a run: the listing repeats under the new
    stamp, so the reader gets the whole new run."""
    older, newer = new_run_id(), new_run_id(after=new_run_id())
    for run in (older, newer):
        partition = tmp_path / "orders" / "facility_id=1" / f"date={DAY}"
        partition.mkdir(parents=True, exist_ok=True)
        (partition / f"{run}-1-0.parquet").write_bytes(b"")
    stamps = iter([LastRun(older, 0.0), LastRun(newer, 1.0), LastRun(newer, 1.0)])
    monkeypatch.setattr(ExportStore, "last_run", lambda self: next(stamps))

    partitions = ExportListing(ExportStore.open(tmp_path)).partitions()["orders"]

    (partition,) = partitions.values()
    assert [f.rsplit("/", 1)[1].split("-")[0] for f in partition.files] == [older, newer]


@pytest.mark.slow
def test_the_notebook_runs_against_the_s3_url(
    sqlite_settings: Settings,
    s3_bucket: S3Bucket,  # noqa: F811
    builder: Builder,
) -> None:
    facility_id = _park_day(builder)
    run_export(on_s3(sqlite_settings, s3_bucket))

    text = run_notebook(
        NOTEBOOK,
        {
            "KIPPU_EXPORT_URL": s3_bucket.url(),
            "KIPPU_S3_ENDPOINT_URL": s3_bucket.endpoint_url,
            "KIPPU_FACILITY_ID": str(facility_id),
            "KIPPU_DATE": DAY.isoformat(),
        },
    )

    assert f"exports: {s3_bucket.url()}" in text
    assert "admitted: 4" in text
    assert "visit rate: 80.0%" in text
    assert ":Bars" in text
