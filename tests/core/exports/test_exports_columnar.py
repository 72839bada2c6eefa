"""The exporter's columnar steps without a database: driver values to Arrow, and the
incremental bookkeeping (the export_seq bound, rows already written)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from core_service.exports import batches
from core_service.exports.increments import Increment

UTC_TS = pa.timestamp("us", tz="UTC")
JST = dt.timezone(dt.timedelta(hours=9))


@pytest.mark.parametrize(
    ("sqlite", "asyncpg", "type_"),
    [
        (
            ["2026-11-25 01:02:03.456789", "2026-11-25 15:00:00.000000", None],
            [
                dt.datetime(2026, 11, 25, 10, 2, 3, 456789, tzinfo=JST),
                dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC),
                None,
            ],
            UTC_TS,
        ),
        (["2026-11-25", None], [dt.date(2026, 11, 25), None], pa.date32()),
        ([1, 0, None], [True, False, None], pa.bool_()),
    ],
    ids=["timestamp", "date", "bool"],
)
def test_sqlite_text_and_asyncpg_objects_become_the_same_arrow_column(
    sqlite: list[object], asyncpg: list[object], type_: pa.DataType
) -> None:
    from_sqlite = batches.column(sqlite, type_)
    from_asyncpg = batches.column(asyncpg, type_)

    assert from_sqlite.type == type_
    assert from_sqlite.equals(from_asyncpg)


def test_json_text_is_rewritten_with_non_ascii_characters_readable() -> None:
    stored = '{"paper": "\\u5c11\\u306a\\u3044", "errors": [1, null]}'  # json.dumps' default

    assert batches.json_text(stored) == '{"paper": "少ない", "errors": [1, null]}'


@pytest.mark.parametrize(("stored", "exported"), [(None, None), ("null", None), ('"ok"', "ok")])
def test_json_null_and_strings_are_exported_as_values(stored: str | None, exported: str) -> None:
    assert batches.json_text(stored) == exported


def test_text_timestamps_arrow_cannot_parse_are_read_as_python_reads_them() -> None:
    values = ["2026-11-25 10:00:00+09:00", "2026-11-25 01:00:00"]

    column = batches.column(values, UTC_TS)

    expected = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)
    assert column.to_pylist() == [expected, expected]


def test_partition_dates_use_each_facilitys_zone_and_tokyo_when_unknown() -> None:
    # 2026-11-25 15:30 UTC: the 26th in Tokyo, the 25th in New York.
    instant = dt.datetime(2026, 11, 25, 15, 30, tzinfo=dt.UTC)
    facility_ids = pa.array([1, 2, 3], pa.int64())
    stamps = pa.array([instant] * 3, UTC_TS)
    zones = {1: ZoneInfo("Asia/Tokyo"), 2: ZoneInfo("America/New_York")}  # 3: unknown

    dates = batches.partition_dates(facility_ids, stamps, zones)

    assert dates.to_pylist() == [
        dt.date(2026, 11, 26),
        dt.date(2026, 11, 25),
        dt.date(2026, 11, 26),
    ]


def test_a_zone_arrow_does_not_know_is_converted_by_python() -> None:
    with Path("/usr/share/zoneinfo/America/New_York").open("rb") as f:
        private = ZoneInfo.from_file(f, key="Private/Zone")  # unknown to Arrow by name
    stamps = pa.array([dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)], UTC_TS)

    dates = batches.partition_dates(pa.array([1], pa.int64()), stamps, {1: private})

    assert dates.to_pylist() == [dt.date(2026, 11, 24)]


def test_a_date_partition_source_is_the_key_itself() -> None:
    days = pa.array([dt.date(2026, 11, 25)], pa.date32())

    assert batches.partition_dates(pa.array([1], pa.int64()), days, {}) is days


# -- incremental bookkeeping --------------------------------------------------------------


def _admit(increment: Increment, rows: list[tuple[int, int]]) -> list[int]:
    """Ids of ``rows`` (id, export_seq) the increment lets through."""
    ids = pa.array([i for i, _ in rows], pa.int64())
    keep = increment.admit(ids, pa.array([s for _, s in rows], pa.int64()))
    return ids.to_pylist() if keep is None else ids.filter(keep).to_pylist()


def test_a_first_export_reads_everything_and_writes_every_row() -> None:
    increment = Increment({}, bound=10)

    assert increment.lower is None
    assert _admit(increment, [(1, 3), (2, 9)]) == [1, 2]


def test_the_next_run_reads_from_the_bound_the_last_run_took() -> None:
    first = Increment({}, bound=10)
    _admit(first, [(1, 3)])

    assert Increment(first.state(), bound=12).lower == 10


def test_rows_written_by_the_last_run_are_skipped_and_changed_ones_written() -> None:
    first = Increment({}, bound=10)
    _admit(first, [(1, 4), (2, 10), (3, 11)])  # 2 and 3 committed during the read
    second = Increment(first.state(), bound=20)

    late = (4, 10)  # the same transaction as row 2, committed after the first read
    changed = (3, 15)
    admitted = _admit(second, [(2, 10), late, (3, 11), changed])

    assert admitted == [4, 3]


def test_state_remembers_the_rows_at_or_above_the_bound() -> None:
    increment = Increment({}, bound=10)
    _admit(increment, [(1, 9), (2, 10), (3, 12)])

    assert increment.state() == {"bound": 10, "recent": [[2, 10], [3, 12]]}


def test_a_run_that_rereads_only_written_rows_writes_nothing_and_keeps_the_state() -> None:
    state = {"bound": 10, "recent": [[7, 11]]}
    increment = Increment(state, bound=10)

    assert _admit(increment, [(7, 11)]) == []
    assert increment.state() == state


def test_a_state_of_the_timestamp_watermark_reads_the_table_whole_once() -> None:
    old = {"watermark": "2026-11-25T01:00:00+00:00", "recent": []}

    assert Increment(old, bound=10).lower is None
