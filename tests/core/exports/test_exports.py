"""The exporter: incremental, append-only, hive-partitioned Parquet without PII."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from core_service.exports import (
    SCHEMA_VERSION,
    TABLES,
    ExportReport,
    export_async,
    follow_exports,
    run_export,
)
from core_service.exports.exporter import STATE_FILE
from core_service.exports.locking import directory_lock
from core_service.exports.writer import PartitionedWriter
from core_service.models import CheckIn
from core_service.platform.database import make_engine
from core_service.platform.settings import Settings
from kippu_contract.export_schema import ExportTable
from tests.support import REPO_ROOT
from tests.support.workbench import JST, SECRET_EMAIL, SECRET_NAME, Builder, at
from workbench.data_access import ExportSource

DAY = dt.date(2026, 11, 25)
DOCS = REPO_ROOT / "docs" / "exports.md"


@pytest.fixture
def settings(db_settings: Settings) -> Settings:
    """Each export test runs on SQLite and on PostgreSQL (conftest's ``db_settings``)."""
    return db_settings


@pytest.fixture
def builder(settings: Settings) -> Iterator[Builder]:
    b = Builder(settings)
    try:
        yield b
    finally:
        b.close()


def _export_dir(settings: Settings) -> Path:
    assert settings.export_dir is not None
    return Path(settings.export_dir)


def _parquet_files(settings: Settings) -> list[Path]:
    return sorted(_export_dir(settings).rglob("*.parquet"))


def test_first_export_writes_every_table_partitioned_by_facility_and_date(
    settings: Settings, builder: Builder
) -> None:
    park = builder.facility("park")
    product = builder.product(park)
    customer = builder.customer(park)
    builder.order(park, product, DAY, quantity=2, customer=customer)

    report = run_export(settings)

    assert report.rows == {
        "facilities": 1,
        "products": 1,
        "customers": 1,
        "orders": 1,
        "order_lines": 1,
        "tickets": 2,
        "checkins": 0,
        "payments": 0,
        "refunds": 0,
        "devices": 0,
    }
    # Customers and products are dated by their creation: now, when the builder made them.
    made = {
        "customers": customer.created_at.astimezone(JST).date(),
        "products": product[0].created_at.astimezone(JST).date(),
    }
    for table in ("orders", "tickets", "order_lines", "customers", "products"):
        day = made.get(table, DAY)
        assert list(
            (_export_dir(settings) / table / f"facility_id={park.id}").glob(
                f"date={day.isoformat()}/*.parquet"
            )
        ), table
    manifest = json.loads((_export_dir(settings) / "_manifest.json").read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert set(manifest["tables"]) == set(TABLES)


def test_rerun_without_changes_writes_nothing(settings: Settings, builder: Builder) -> None:
    park = builder.facility("park")
    builder.order(park, builder.product(park), DAY)
    run_export(settings)
    files = _parquet_files(settings)

    report = run_export(settings)

    assert report.total_rows == 0
    assert _parquet_files(settings) == files


def test_incremental_export_writes_only_new_and_changed_rows(
    settings: Settings, builder: Builder
) -> None:
    park = builder.facility("park")
    product = builder.product(park)
    first = builder.order(park, product, DAY, quantity=3)
    run_export(settings)

    builder.cancel(first[0])
    builder.order(park, product, DAY, quantity=2)
    builder.scan(first[1], at(DAY, 10))
    report = run_export(settings)

    assert report.rows["tickets"] == 3  # one changed, two new
    assert report.rows["orders"] == 1
    assert report.rows["checkins"] == 1
    assert report.rows["products"] == 0
    assert report.rows["facilities"] == 0


def test_rows_changed_twice_appear_twice_and_readers_keep_the_newest(
    settings: Settings, builder: Builder
) -> None:
    park = builder.facility("park")
    (ticket,) = builder.order(park, builder.product(park), DAY)
    run_export(settings)
    builder.update_ticket(ticket, status="used", uses_left=0)
    run_export(settings)
    builder.cancel(ticket)
    run_export(settings)
    run_export(settings)

    source = ExportSource(_export_dir(settings))
    log = source.sql("SELECT status FROM tickets_log WHERE id = ?", [ticket.id])
    latest = source.sql("SELECT status, uses_left FROM tickets WHERE id = ?", [ticket.id])

    assert sorted(log["status"]) == ["cancelled", "used", "valid"]
    assert latest.to_dict("records") == [{"status": "cancelled", "uses_left": 0}]


def test_a_row_committed_late_by_a_long_transaction_reaches_the_next_export(
    settings: Settings, builder: Builder
) -> None:
    """A scan stamped a day ago, written by a transaction that was still open during an
    export: the overlap window of old would have missed it for good."""
    park = builder.facility("park")
    product = builder.product(park)
    (ticket,) = builder.order(park, product, DAY)
    late_scan = sa.insert(CheckIn).values(
        facility_id=park.id,
        ticket_id=ticket.id,
        direction="entry",
        result="admitted",
        reason="offline",
        scanned_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
    )

    async def scenario() -> list[ExportReport]:
        # The exporter's engine (as the core's export job has it) is connected before the
        # slow writer begins: on SQLite a new connection would wait for the writer.
        engine = make_engine(settings)
        try:
            async with engine.connect() as warm:
                await warm.execute(sa.text("SELECT 1"))
            async with builder.engine.connect() as slow:
                await slow.execute(late_scan)
                during = await export_async(settings, engine=engine)
                await slow.commit()
            after = await export_async(settings, engine=engine)
            again = await export_async(settings, engine=engine)
        finally:
            await engine.dispose()
        return [during, after, again]

    during, after, again = asyncio.run(scenario())

    assert during.rows["checkins"] == 0
    assert after.rows["checkins"] == 1
    assert again.rows["checkins"] == 0
    exported = ExportSource(_export_dir(settings)).sql("SELECT reason FROM checkins")
    assert list(exported["reason"]) == ["offline"]


def test_a_row_updated_late_with_an_old_timestamp_is_written_again(
    settings: Settings, builder: Builder
) -> None:
    park = builder.facility("park")
    product = builder.product(park)
    (ticket,) = builder.order(park, product, DAY)
    run_export(settings)

    builder.update_ticket(ticket, status="used", updated_at=at(DAY, 9))
    report = run_export(settings)

    assert report.rows["tickets"] == 1


def test_partition_date_is_the_facility_local_date(settings: Settings, builder: Builder) -> None:
    park = builder.facility("park")  # Asia/Tokyo
    product = builder.product(park)
    # 23:30 and 00:30 in Tokyo are both on the 25th in UTC.
    builder.order(park, product, DAY, created_at=at(DAY, 23, 30))
    builder.order(park, product, DAY, created_at=at(DAY + dt.timedelta(days=1), 0, 30))

    run_export(settings)

    orders = _export_dir(settings) / "orders" / f"facility_id={park.id}"
    assert sorted(p.name for p in orders.iterdir()) == ["date=2026-11-25", "date=2026-11-26"]


def test_customer_pii_never_appears_in_any_parquet_file(
    settings: Settings, builder: Builder
) -> None:
    park = builder.facility("park")
    customer = builder.customer(park)
    tickets = builder.order(park, builder.product(park), DAY, customer=customer)
    builder.scan(tickets[0], at(DAY, 10), builder.gate(park))
    run_export(settings)

    secrets = {SECRET_EMAIL, SECRET_NAME, "office@park.example"}
    values: list[str] = []
    for path in _parquet_files(settings):
        for column in pq.read_table(path).to_pylist():
            values.extend(str(v) for v in column.values())
        values.append(path.read_bytes().decode("latin-1"))  # raw bytes, metadata included

    assert _parquet_files(settings)
    assert not [s for s in secrets if any(s in v for v in values)]
    keys = ExportSource(_export_dir(settings)).sql("SELECT customer_key FROM orders")
    assert list(keys["customer_key"]) == [customer.pseudonym]


def test_export_is_skipped_while_another_export_holds_the_lock(
    settings: Settings, builder: Builder
) -> None:
    builder.facility("park")
    _export_dir(settings).mkdir(parents=True, exist_ok=True)
    with directory_lock(_export_dir(settings)) as acquired:
        assert acquired
        report = run_export(settings)

    assert report.skipped
    assert not _parquet_files(settings)


def test_state_of_another_schema_version_is_refused(settings: Settings) -> None:
    _export_dir(settings).mkdir(parents=True)
    (_export_dir(settings) / STATE_FILE).write_text(json.dumps({"schema_version": 0}))

    with pytest.raises(RuntimeError, match="schema"):
        run_export(settings)


def test_docs_describe_every_exported_column() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert re.search(rf"schema version[^\n]*\b{SCHEMA_VERSION}\b", text, re.IGNORECASE)
    missing = [
        f"{t.name}.{c}"
        for t in TABLES.values()
        for c in t.schema.names
        if not re.search(rf"`{c}`", text.split(f"### `{t.name}`", 1)[-1].split("### ", 1)[0])
    ]
    assert not missing


def test_small_files_of_a_partition_are_merged_keeping_every_row_version(
    settings: Settings, builder: Builder
) -> None:
    park = builder.facility("park")
    (ticket,) = builder.order(park, builder.product(park), DAY)
    run_export(settings, compact_min_files=3)
    for uses_left in (3, 2):  # the third file of the partition triggers the merge
        builder.update_ticket(ticket, uses_left=uses_left)
        report = run_export(settings, compact_min_files=3)

    partition = _export_dir(settings) / "tickets" / f"facility_id={park.id}" / f"date={DAY}"
    source = ExportSource(_export_dir(settings))
    assert report.compacted == 1
    assert len(list(partition.glob("*.parquet"))) == 1
    assert sorted(source.sql("SELECT uses_left FROM tickets_log")["uses_left"]) == [1, 2, 3]
    assert list(source.sql("SELECT uses_left FROM tickets")["uses_left"]) == [2]


def test_follow_exports_runs_until_stopped(settings: Settings, builder: Builder) -> None:
    builder.facility("park")
    stop = threading.Event()
    reports: list[ExportReport] = []

    def on_report(report: ExportReport) -> None:
        reports.append(report)
        if len(reports) == 2:
            stop.set()

    follow_exports(settings, interval_seconds=0.01, stop=stop, on_report=on_report)

    assert [r.rows["facilities"] for r in reports] == [1, 0]
    assert "exported 1 rows" in str(reports[0])


def test_a_run_that_fails_half_way_loses_no_rows(
    settings: Settings, builder: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tables written before the failure are not written again; the failed one is, whole."""
    park = builder.facility("park")
    for ticket in builder.order(park, builder.product(park), DAY, quantity=3):
        builder.scan(ticket, at(DAY, 10))
    write = PartitionedWriter.write

    def disk_full_at_checkins(self: PartitionedWriter, table: ExportTable, batch: Any) -> int:
        if table.name == "checkins":
            raise OSError("disk full")
        return write(self, table, batch)

    with monkeypatch.context() as patched:
        patched.setattr(PartitionedWriter, "write", disk_full_at_checkins)
        with pytest.raises(OSError, match="disk full"):
            run_export(settings)
    report = run_export(settings)

    assert (report.rows["tickets"], report.rows["checkins"]) == (0, 3)
    source = ExportSource(_export_dir(settings))
    assert len(source.sql("SELECT id FROM checkins_log")) == 3
    assert len(source.sql("SELECT id FROM tickets_log")) == 3
