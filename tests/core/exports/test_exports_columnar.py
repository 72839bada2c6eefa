"""The exporter's columnar steps without a database: driver values to Arrow, and the
incremental bookkeeping (watermark, overlap window, rows already written)."""

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

T0 = dt.datetime(2026, 11, 25, 1, 0, 0, tzinfo=dt.UTC)
OVERLAP = dt.timedelta(seconds=30)


def _admit(increment: Increment, rows: list[tuple[int, dt.datetime]]) -> list[int]:
    """Ids of ``rows`` the increment lets through."""
    ids = pa.array([i for i, _ in rows], pa.int64())
    keep = increment.admit(ids, pa.array([t for _, t in rows], UTC_TS))
    return ids.to_pylist() if keep is None else ids.filter(keep).to_pylist()


def test_a_first_export_reads_everything_and_writes_every_row() -> None:
    increment = Increment({}, OVERLAP)

    assert increment.lower is None
    assert _admit(increment, [(1, T0), (2, T0)]) == [1, 2]


def test_the_next_run_reads_from_the_watermark_minus_the_overlap() -> None:
    first = Increment({}, OVERLAP)
    _admit(first, [(1, T0)])

    assert Increment(first.state(), OVERLAP).lower == T0 - OVERLAP


def test_rows_written_by_the_last_run_are_skipped_and_changed_ones_written() -> None:
    first = Increment({}, OVERLAP)
    _admit(first, [(1, T0 - dt.timedelta(seconds=10)), (2, T0)])
    second = Increment(first.state(), OVERLAP)

    late = (3, T0 - dt.timedelta(seconds=5))  # committed after the first run, stamped before
    changed = (1, T0 + dt.timedelta(seconds=1))
    admitted = _admit(second, [(1, T0 - dt.timedelta(seconds=10)), late, (2, T0), changed])

    assert admitted == [3, 1]


def test_state_remembers_the_rows_inside_the_window_as_isoformat() -> None:
    increment = Increment({}, OVERLAP)
    old = T0 - dt.timedelta(seconds=31)
    fraction = T0 - dt.timedelta(microseconds=1)
    _admit(increment, [(1, old), (2, fraction), (3, T0)])

    state = increment.state()

    assert state == {
        "watermark": T0.isoformat(),
        "recent": [[2, fraction.isoformat()], [3, T0.isoformat()]],
    }
    assert state["recent"][1][1] == "2026-11-25T01:00:00+00:00"  # no fraction, as Python


def test_a_run_that_rereads_only_written_rows_writes_nothing_and_keeps_the_state() -> None:
    state = {"watermark": T0.isoformat(), "recent": [[7, T0.isoformat()]]}
    increment = Increment(state, OVERLAP)

    assert _admit(increment, [(7, T0)]) == []
    assert increment.state() == state
