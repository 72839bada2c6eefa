"""The exporter into an S3-compatible store (moto on loopback): runs, publishing, locks."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core_service.exports import run_export
from core_service.exports.writer import PartitionedWriter
from core_service.platform.settings import Settings
from kippu_contract.export_schema import ExportTable
from kippu_contract.export_store import COMPACT_PREFIX, parse_last_run, run_id_of
from tests.support.s3 import S3Bucket, on_s3, s3_bucket, s3_endpoint  # noqa: F401
from tests.support.workbench import Builder, at
from workbench.data_access import ExportSource

DAY = dt.date(2026, 11, 25)


@pytest.fixture
def s3(db_settings: Settings, s3_bucket: S3Bucket) -> Settings:  # noqa: F811
    """Settings exporting into the test's bucket, on SQLite and on PostgreSQL."""
    return on_s3(db_settings, s3_bucket)


@pytest.fixture
def builder(db_settings: Settings) -> Iterator[Builder]:
    b = Builder(db_settings)
    try:
        yield b
    finally:
        b.close()


def _rows(bucket: S3Bucket, table: str) -> list[dict[str, Any]]:
    store = bucket.store()
    files = sorted(info.path for info in store.parquet_files(table))
    return [row for f in files for row in pq.read_table(f, filesystem=store.filesystem).to_pylist()]


def test_a_first_and_an_incremental_export_land_in_the_bucket(
    s3: Settings,
    s3_bucket: S3Bucket,  # noqa: F811
    builder: Builder,
) -> None:
    park = builder.facility("park")
    product = builder.product(park)
    first = builder.order(park, product, DAY, quantity=2)

    report = run_export(s3)

    keys = s3_bucket.object_keys()
    assert report.rows["tickets"] == 2 and report.location == s3_bucket.url()
    assert {"exports/_manifest.json", "exports/_state.json", "exports/.export.last"} <= set(keys)
    first_files = [k for k in keys if k.startswith(f"exports/tickets/facility_id={park.id}/")]
    assert first_files and all(f"/date={DAY}/" in k for k in first_files)
    assert s3.export_dir is None and not (s3.var_dir / "exports").exists()

    builder.cancel(first[0])
    builder.order(park, product, DAY)
    again = run_export(s3)

    assert again.rows["tickets"] == 2  # one changed, one new
    assert sorted(r["status"] for r in _rows(s3_bucket, "tickets")) == [
        "cancelled",
        "valid",
        "valid",
        "valid",
    ]
    stamp = parse_last_run(s3_bucket.store().read_bytes(".export.last") or b"", 0)
    new_files = set(s3_bucket.object_keys()) - set(keys)
    runs = {run_id_of(k) for k in new_files if k.endswith(".parquet")}
    assert runs == {stamp.run_id}
    assert all(stamp.run_id > (run_id_of(k) or "") for k in first_files)


def test_partitions_of_many_small_files_are_merged_in_the_store(
    s3: Settings,
    s3_bucket: S3Bucket,  # noqa: F811
    builder: Builder,
) -> None:
    """The merged file keeps every row version; merging it again adds no second prefix."""
    park = builder.facility("park")
    (ticket,) = builder.order(park, builder.product(park), DAY)
    reports = [run_export(s3, compact_min_files=2)]
    for uses_left in (3, 2):
        builder.update_ticket(ticket, uses_left=uses_left)
        reports.append(run_export(s3, compact_min_files=2))

    partition = f"exports/tickets/facility_id={park.id}/date={DAY}/"
    (merged,) = [k for k in s3_bucket.object_keys() if k.startswith(partition)]
    assert [r.compacted for r in reports] == [0, 1, 1]
    assert merged.rsplit("/", 1)[1].startswith(COMPACT_PREFIX)
    assert not merged.rsplit("/", 1)[1].startswith(COMPACT_PREFIX * 2)
    assert sorted(r["uses_left"] for r in _rows(s3_bucket, "tickets")) == [1, 2, 3]
    source = ExportSource(s3_bucket.store())
    assert list(source.sql("SELECT uses_left FROM tickets")["uses_left"]) == [2]


def test_a_run_that_fails_half_way_shows_nothing_until_the_next_run_publishes(
    s3: Settings,
    s3_bucket: S3Bucket,  # noqa: F811
    builder: Builder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    park = builder.facility("park")
    for ticket in builder.order(park, builder.product(park), DAY, quantity=3):
        builder.scan(ticket, at(DAY, 10))
    write = PartitionedWriter.write

    def fails_at_checkins(self: PartitionedWriter, table: ExportTable, batch: pa.Table) -> int:
        if table.name == "checkins":
            raise OSError("store unreachable")
        return write(self, table, batch)

    with monkeypatch.context() as patched:
        patched.setattr(PartitionedWriter, "write", fails_at_checkins)
        with pytest.raises(OSError, match="unreachable"):
            run_export(s3)
    assert _rows(s3_bucket, "tickets")  # written, but not published
    assert len(ExportSource(s3_bucket.store()).sql("SELECT id FROM tickets_log")) == 0

    report = run_export(s3)  # also shows that the failed run let go of the lock

    assert (report.rows["tickets"], report.rows["checkins"]) == (0, 3)
    source = ExportSource(s3_bucket.store())
    assert len(source.sql("SELECT id FROM tickets_log")) == 3
    assert len(source.sql("SELECT id FROM checkins_log")) == 3


def test_two_exporters_at_once_export_once(
    s3: Settings,
    s3_bucket: S3Bucket,  # noqa: F811
    builder: Builder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second finds the first in the middle of its run (PostgreSQL's advisory lock,
    or on SQLite the lock file beside the database) and leaves the store alone."""
    park = builder.facility("park")
    for ticket in builder.order(park, builder.product(park), DAY, quantity=3):
        builder.scan(ticket, at(DAY, 10))
    inside, release = threading.Event(), threading.Event()
    write = PartitionedWriter.write

    def held_up(self: PartitionedWriter, table: ExportTable, batch: pa.Table) -> int:
        if not inside.is_set():  # the first run's first batch
            inside.set()
            assert release.wait(30)
        return write(self, table, batch)

    monkeypatch.setattr(PartitionedWriter, "write", held_up)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(run_export, s3)
        assert inside.wait(30)
        try:
            second = run_export(s3)
        finally:
            release.set()
        first = running.result(60)

    assert second.skipped and second.skip_reason == "locked"
    assert not first.skipped and first.rows["tickets"] == 3
    source = ExportSource(s3_bucket.store())
    assert len(source.sql("SELECT id FROM tickets_log")) == 3  # each version once
    assert len(source.sql("SELECT DISTINCT id FROM checkins_log")) == 3
    assert run_export(s3).total_rows == 0  # the state matches the files


def test_the_state_in_the_store_remembers_the_last_run(
    s3: Settings,
    s3_bucket: S3Bucket,  # noqa: F811
    builder: Builder,
) -> None:
    builder.facility("park")
    run_export(s3)

    state = json.loads(s3_bucket.store().read_bytes("_state.json") or b"{}")
    stamp = parse_last_run(s3_bucket.store().read_bytes(".export.last") or b"", 0)

    assert state["run"] == stamp.run_id
    assert state["tables"]["facilities"]["bound"]
