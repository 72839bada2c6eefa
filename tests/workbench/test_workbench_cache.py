"""The workbench's incremental memory tables stay exactly what reading every file gives.

Exports are written here straight to Parquet (no core), file by file, so that each test
controls which versions land in which files: new files, newer and older versions, scans
exported twice, compaction, a file vanishing. One :class:`ExportSource` is kept across
the steps (the incremental path) and compared with the log read afresh.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from core_service.exports.compaction import compact_exports
from kippu_contract.export_schema import TABLES
from tests.support.export_rows import DAY, Exports, moment
from workbench.data_access import ExportSource
from workbench.data_segments import Segment
from workbench.export_files import TableListing

CACHED = [name for name in TABLES if name != "checkins"]


@pytest.fixture
def exports(tmp_path: Path) -> Exports:
    out = Exports(tmp_path / "exports")
    out.facility(1)
    out.facility(2)
    return out


def test_a_new_scan_file_is_counted_on_the_next_refresh(exports: Exports) -> None:
    exports.write("tickets", [exports.ticket(1, i, 100 + i, DAY) for i in (1, 2)])
    exports.write("checkins", [exports.scan(1, 1, 1, moment(DAY, 10))])
    source = ExportSource(exports.root)
    assert source.attendance(1, DAY).admitted == 1

    exports.write("checkins", [exports.scan(1, 2, 2, moment(DAY, 11))])
    source.refresh()

    assert source.attendance(1, DAY).admitted == 2
    assert source.admissions_per_hour(1, DAY).set_index("hour").loc[11, "admissions"] == 1


def test_a_new_scan_file_adds_its_order_to_checked_in_segments(exports: Exports) -> None:
    exports.write("customers", [exports.customer(1, 1), exports.customer(1, 2)])
    exports.write("orders", [exports.order(1, 101, "key1"), exports.order(1, 102, "key2")])
    exports.write("tickets", [exports.ticket(1, 1, 101, DAY), exports.ticket(1, 2, 102, DAY)])
    exports.write("checkins", [exports.scan(1, 1, 1, moment(DAY, 10))])
    source = ExportSource(exports.root)
    assert source.segment_keys(1, Segment(checked_in=True)) == ["key1"]

    exports.write("checkins", [exports.scan(1, 2, 2, moment(DAY, 11))])
    source.refresh()

    assert source.segment_keys(1, Segment(checked_in=True)) == ["key1", "key2"]
    assert source.segment_keys(1, Segment(checked_in=False)) == []


def test_compaction_replacing_files_counts_no_row_twice(exports: Exports) -> None:
    exports.write("customers", [exports.customer(1, 1)])
    exports.write("orders", [exports.order(1, 101, "key1")])
    for i in range(1, 4):
        exports.write("tickets", [exports.ticket(1, i, 101, DAY)])
        exports.write("checkins", [exports.scan(1, i, i, moment(DAY, 9 + i))])
    exports.write("checkins", [exports.scan(1, 9, 1, moment(DAY, 15), direction="exit")])
    source = ExportSource(exports.root)
    before = _figures(source)

    assert compact_exports(exports.root, exports.root / "_staging", min_files=2) > 0
    source.refresh()

    assert _figures(source) == before
    assert before["attendance"] == (3, 3) and before["in_park"] == 2
    _assert_consistent(source)


def test_sales_follow_new_orders_payments_and_cancellations(exports: Exports) -> None:
    exports.write("orders", [exports.order(1, 101, "key1")])
    exports.write("order_lines", [exports.line(1, 1, 101, quantity=2)])
    exports.write("payments", [exports.payment(1, 1, 101, method="card")])
    source = ExportSource(exports.root)
    week = (DAY - dt.timedelta(days=6), DAY)
    assert _sales(source, *week) == [("web", "card", 2, 2000)]

    exports.write("orders", [exports.order(1, 102, "key2", channel="kiosk")])
    exports.write("order_lines", [exports.line(1, 2, 102)])
    exports.write("payments", [exports.payment(1, 2, 102, method="paypay")])
    source.refresh()
    assert _sales(source, *week) == [("kiosk", "paypay", 1, 1000), ("web", "card", 2, 2000)]

    exports.write(
        "payments",
        [
            exports.payment(1, 1, 101, version=1, method="card", state="refunded"),
            exports.payment(1, 3, 101, version=1, method="konbini"),
        ],
    )
    exports.write("orders", [exports.order(1, 102, "key2", version=1, status="cancelled")])
    source.refresh()
    assert _sales(source, *week) == [("web", "konbini", 2, 2000)]
    _assert_consistent(source)


def test_a_newer_version_supersedes_the_older_one(exports: Exports) -> None:
    exports.write("tickets", [exports.ticket(1, i, 101, DAY) for i in (1, 2)])
    exports.write("checkins", [exports.scan(1, 1, 1, moment(DAY, 10))])
    source = ExportSource(exports.root)
    assert source.attendance(1, DAY).valid == 2

    exports.write("tickets", [exports.ticket(1, 2, 101, DAY, version=1, status="cancelled")])
    exports.write("tickets", [exports.ticket(1, 1, 101, DAY, version=1, kind="coupon_book")])
    source.refresh()

    assert source.attendance(1, DAY).valid == 0  # cancelled; no longer an admission
    assert source.attendance(1, DAY).admitted == 0
    _assert_consistent(source)


def test_an_older_version_arriving_later_does_not_win(exports: Exports) -> None:
    exports.write("tickets", [exports.ticket(1, 1, 101, DAY, version=2, status="cancelled")])
    source = ExportSource(exports.root)

    exports.write("tickets", [exports.ticket(1, 1, 101, DAY, version=1)])
    source.refresh()

    assert source.attendance(1, DAY).valid == 0
    _assert_consistent(source)


def test_a_ticket_moved_to_another_day_leaves_the_old_day(exports: Exports) -> None:
    tomorrow = DAY + dt.timedelta(days=1)
    exports.write("tickets", [exports.ticket(1, 1, 101, DAY)])
    source = ExportSource(exports.root)
    assert (source.attendance(1, DAY).valid, source.attendance(1, tomorrow).valid) == (1, 0)

    exports.write("tickets", [exports.ticket(1, 1, 101, tomorrow, version=1)])
    source.refresh()

    assert (source.attendance(1, DAY).valid, source.attendance(1, tomorrow).valid) == (0, 1)


def test_a_vanished_file_gives_way_to_the_newest_surviving_version(exports: Exports) -> None:
    exports.write("tickets", [exports.ticket(1, 1, 101, DAY)])
    (newer,) = exports.write(
        "tickets", [exports.ticket(1, 1, 101, DAY, version=1, status="cancelled")]
    )
    source = ExportSource(exports.root)
    assert source.attendance(1, DAY).valid == 0

    newer.unlink()
    source.refresh()

    assert source.attendance(1, DAY).valid == 1
    _assert_consistent(source)


def test_a_scan_exported_twice_counts_once(exports: Exports) -> None:
    exports.write("tickets", [exports.ticket(1, 1, 101, DAY)])
    entry = exports.scan(1, 1, 1, moment(DAY, 10))
    exports.write("checkins", [entry])
    exports.write("checkins", [entry, exports.scan(1, 2, 1, moment(DAY, 12), direction="exit")])
    exports.write("checkins", [exports.scan(1, 2, 1, moment(DAY, 12), direction="exit")])

    source = ExportSource(exports.root)

    assert (source.attendance(1, DAY).admitted, source.in_park(1, DAY)) == (1, 0)


def test_a_failed_load_changes_nothing_and_is_retried(exports: Exports) -> None:
    exports.write("tickets", [exports.ticket(1, 1, 101, DAY)])
    source = ExportSource(exports.root)
    assert source.attendance(1, DAY).valid == 1
    exports.write("tickets", [exports.ticket(1, 2, 102, DAY)])
    (broken,) = exports.write("tickets", [exports.ticket(1, 3, 103, DAY)])
    broken.write_bytes(b"not parquet")  # as if merged away while it was being read

    source.refresh()
    assert source.attendance(1, DAY).valid == 1

    exports.write("tickets", [exports.ticket(1, 3, 103, DAY)])
    broken.unlink()
    source.refresh()
    assert source.attendance(1, DAY).valid == 3


def test_the_listing_sees_a_file_added_in_the_same_clock_tick(tmp_path: Path) -> None:
    """A partition's time may not move within one tick; recent partitions are re-listed."""
    partition = tmp_path / "t" / "facility_id=1" / f"date={DAY}"
    partition.mkdir(parents=True)
    (partition / "a.parquet").write_bytes(b"")
    listing = TableListing(str(tmp_path / "t"))
    assert len(listing.partitions()[str(partition)].files) == 1
    mtime = partition.stat().st_mtime_ns

    (partition / "b.parquet").write_bytes(b"")
    os.utime(partition, ns=(mtime, mtime))  # as if in the same tick as the listing

    assert len(listing.partitions()[str(partition)].files) == 2


def test_the_listing_keeps_an_unchanged_old_partition(tmp_path: Path) -> None:
    partition = tmp_path / "t" / "facility_id=1" / f"date={DAY}"
    partition.mkdir(parents=True)
    (partition / "a.parquet").write_bytes(b"")
    old = time.time_ns() - 60 * 10**9
    os.utime(partition, ns=(old, old))
    listing = TableListing(str(tmp_path / "t"))
    first = listing.partitions()

    assert listing.partitions()[str(partition)] is first[str(partition)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_exports_stay_equal_to_deduplicating_the_log(exports: Exports, seed: int) -> None:
    """Versions, duplicates, moves between days, compaction and a lost file, step by step."""
    rng = random.Random(seed)
    days = [DAY - dt.timedelta(days=d) for d in range(4)]
    scan_ids = itertools.count(1)
    source = ExportSource(exports.root)
    source.segment_count(1, Segment(checked_in=True))  # keep facility 1's admitted orders
    for step in range(6):
        # A version's content depends on (id, version) only: the same version exported
        # twice is the same row, as with the real exporter.
        tickets = []
        for i in rng.sample(range(1, 40), 12):
            version = rng.randrange(5)
            pick = random.Random(i * 10 + version)
            tickets.append(
                exports.ticket(
                    1 + i % 2,
                    i,
                    100 + i % 10,
                    pick.choice(days),
                    version=version,
                    kind=pick.choice(["day_admission", "annual_pass", "coupon_book"]),
                    status=pick.choice(["valid", "valid", "cancelled"]),
                )
            )
        exports.write("tickets", tickets)
        orders = []
        for i in rng.sample(range(10), 5):
            version = rng.randrange(5)
            status = random.Random(i * 10 + version).choice(["paid", "pending"])
            orders.append(
                exports.order(1 + i % 2, 100 + i, f"key{i % 5}", version=version, status=status)
            )
        exports.write("orders", orders)
        exports.write(
            "order_lines",
            [
                exports.line(1 + i % 2, i, 100 + i % 10, version=v, quantity=1 + v)
                for i, v in ((rng.randrange(20), rng.randrange(5)) for _ in range(4))
            ],
        )
        exports.write(
            "payments",
            [
                exports.payment(
                    1 + i % 2,
                    i,
                    100 + i % 10,
                    version=v,
                    method=["card", "paypay"][v % 2],
                    state=["paid", "refunded", "paid"][v % 3],
                )
                for i, v in ((rng.randrange(20), rng.randrange(5)) for _ in range(4))
            ],
        )
        exports.write("customers", [exports.customer(1, i) for i in range(5)])
        scans = [
            exports.scan(
                1 + (t % 2),
                next(scan_ids),
                t,
                moment(rng.choice(days), rng.randrange(8, 20), rng.randrange(60)),
                direction=rng.choice(["entry", "entry", "exit", "ride"]),
                result=rng.choice(["admitted", "admitted", "already_used"]),
                gate=rng.choice(["North", "South"]),
            )
            for t in rng.sample(range(1, 40), 10)
        ]
        exports.write("checkins", scans + rng.sample(scans, 3))  # some scans twice
        if step == 3:
            compact_exports(exports.root, exports.root / "_staging", min_files=2)
        if step == 4:
            victim = sorted((exports.root / "tickets").rglob("*.parquet"))[0]
            victim.unlink()
        source.refresh()
        for day in days:
            source.attendance(1, day)  # keep these days summarised
        _assert_consistent(source)
        assert _figures(source) == _figures(ExportSource(exports.root))


# -- helpers ---------------------------------------------------------------------------------


def _figures(source: ExportSource) -> dict[str, Any]:
    return {
        "attendance": (source.attendance(1, DAY).admitted, source.attendance(1, DAY).valid),
        "in_park": source.in_park(1, DAY),
        "per_hour": source.admissions_per_hour(1, DAY)["admissions"].tolist(),
        "gate": source.admissions_by(1, DAY, "gate").to_dict("list"),
        "product": source.admissions_by(1, DAY, "product").to_dict("list"),
        "checked_in": source.segment_keys(1, Segment(checked_in=True)),
        "not_checked_in": source.segment_keys(1, Segment(checked_in=False, marketing_only=False)),
        "sales": _sales(source, DAY - dt.timedelta(days=6), DAY),
    }


def _sales(source: ExportSource, day_from: dt.date, day_to: dt.date) -> list[tuple[Any, ...]]:
    """(channel, method, quantity, amount) of the range, without day and product."""
    frame = source.sales_lines(1, day_from, day_to)
    grouped = frame.groupby(["channel", "method"], as_index=False)[["quantity", "amount"]].sum()
    return [tuple(r) for r in grouped.itertuples(index=False)]


def _rows(source: ExportSource, sql: str) -> list[tuple[Any, ...]]:
    return sorted(source.connection.execute(sql).fetchall(), key=repr)


def _assert_consistent(source: ExportSource) -> None:
    """Every memory table equals what de-duplicating or summarising the files gives.

    Facility 1's check-ins are summarised and its admitted orders kept (asked for here if
    the test did not).
    """
    source.segment_count(1, Segment(checked_in=True))
    source.sales_lines(1, DAY, DAY)  # keep the paid order lines
    source.sql("SELECT 1")  # ad-hoc queries keep every table in memory
    for name in CACHED:
        table = TABLES[name]
        assert _rows(source, f"SELECT * FROM {name}") == _rows(
            source,
            f"SELECT * FROM {name}_log QUALIFY row_number() OVER "
            f"(PARTITION BY id ORDER BY {table.watermark_column} DESC) = 1",
        ), name
    assert _rows(source, "SELECT * FROM _checkin_tickets WHERE facility_id = 1") == _rows(
        source,
        """
        SELECT facility_id, date, ticket_id,
               min(scanned_at) FILTER (WHERE direction = 'entry'),
               arg_min(coalesce(gate_name, '-'), scanned_at) FILTER (WHERE direction = 'entry'),
               count(*) FILTER (WHERE direction = 'entry'), count(*) FILTER (WHERE direction = 'exit')
        FROM checkins
        WHERE result = 'admitted' AND direction IN ('entry', 'exit') AND ticket_id IS NOT NULL
          AND facility_id = 1
        GROUP BY ALL
        """,
    )
    assert _rows(source, "SELECT * FROM _admitted_orders WHERE facility_id = 1") == _rows(
        source,
        """
        SELECT DISTINCT t.facility_id, t.order_id FROM tickets AS t JOIN checkins AS k
            ON k.ticket_id = t.id AND k.facility_id = t.facility_id
        WHERE k.result = 'admitted' AND k.direction = 'entry'
          AND t.facility_id = 1
        """,
    )

    assert _rows(source, "SELECT * FROM _sales_lines") == _rows(
        source,
        """
        SELECT o.facility_id, o.id, o.paid_at, o.channel, p.method, l.product_id, l.quantity,
               l.line_total
        FROM orders AS o
        JOIN order_lines AS l ON l.order_id = o.id AND l.facility_id = o.facility_id
        LEFT JOIN (
            SELECT facility_id, order_id, arg_max(method, id) AS method FROM payments
            WHERE state = 'paid' GROUP BY ALL
        ) AS p ON p.order_id = o.id AND p.facility_id = o.facility_id
        WHERE o.status = 'paid' AND o.paid_at IS NOT NULL
        """,
    )


def test_a_day_whose_scan_files_all_vanish_counts_nobody(exports: Exports) -> None:
    exports.write("tickets", [exports.ticket(1, 1, 101, DAY)])
    (scans,) = exports.write("checkins", [exports.scan(1, 1, 1, moment(DAY, 10))])
    source = ExportSource(exports.root)
    assert source.attendance(1, DAY).admitted == 1

    scans.unlink()
    source.refresh()

    assert source.attendance(1, DAY).admitted == 0
