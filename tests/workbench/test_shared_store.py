"""The workbench process's one shared store: isolation, refreshes, loading and counters.

Exports are written straight to Parquet (``tests.support.export_rows``); the page states
are driven as the served pages drive them, on a store shared by every session.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from tests.support.export_rows import DAY, Exports, moment
from workbench.attendance import AttendanceState
from workbench.data_segments import Segment
from workbench.mailing import MailingState
from workbench.sales import SalesState
from workbench.shared_store import FacilityMismatch, SharedStore


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def exports(tmp_path: Path) -> Exports:
    """Facility 1: two admitted visitors, a paid order; facility 2: one of each; 3: none."""
    out = Exports(tmp_path / "exports")
    for facility_id in (1, 2, 3):
        out.facility(facility_id)
    out.write("customers", [out.customer(1, 1), out.customer(2, 2)])
    out.write("orders", [out.order(1, 101, "key1"), out.order(2, 201, "key2")])
    out.write("order_lines", [out.line(1, 1001, 101), out.line(2, 2001, 201)])
    out.write("payments", [out.payment(1, 3001, 101), out.payment(2, 3002, 201)])
    out.write(
        "tickets",
        [out.ticket(1, 1, 101, DAY), out.ticket(1, 2, 101, DAY), out.ticket(2, 3, 201, DAY)],
    )
    out.write(
        "checkins",
        [
            out.scan(1, 1, 1, moment(DAY, 10)),
            out.scan(1, 2, 2, moment(DAY, 11)),
            out.scan(2, 3, 3, moment(DAY, 10), gate="South"),
        ],
    )
    return out


def test_two_sessions_of_different_facilities_see_only_their_own_rows(
    exports: Exports,
) -> None:
    store = SharedStore(exports.root, refresh_seconds=0)
    one = AttendanceState(store.open(1), facility_id=1, date=DAY)
    two = AttendanceState(store.open(2), facility_id=2, date=DAY)

    assert (one.admitted, one.valid) == (2, 2)
    assert (two.admitted, two.valid) == (1, 1)
    assert set(one.by_gate["key"]) == {"North"}
    assert set(two.by_gate["key"]) == {"South"}


def test_sales_and_segments_of_a_shared_store_stay_within_the_facility(exports: Exports) -> None:
    store = SharedStore(exports.root, refresh_seconds=0)
    week = {"date_from": DAY - dt.timedelta(days=6), "date_to": DAY}
    sales_one = SalesState(store.open(1), facility_id=1, **week)
    sales_two = SalesState(store.open(2), facility_id=2, **week)
    sales_three = SalesState(store.open(3), facility_id=3, **week)
    mailing_two = store.open(2)

    assert sales_one.total_amount == sales_two.total_amount == 1000
    assert sales_three.total_amount == 0
    assert len(sales_one.lines) == len(sales_two.lines) == 1
    assert mailing_two.segment_keys(2, Segment(everyone=True)) == ["key2"]
    assert mailing_two.segment_keys(2, Segment(checked_in=True)) == ["key2"]


def test_a_session_cannot_ask_for_another_facility(exports: Exports) -> None:
    store = SharedStore(exports.root, refresh_seconds=0)
    one = store.open(1)
    store.open(2)

    with pytest.raises(FacilityMismatch):
        one.attendance(2, DAY)
    with pytest.raises(FacilityMismatch):
        MailingState(one, facility_id=2)
    assert not hasattr(one, "sql")  # no ad-hoc SQL across facilities


def test_only_facilities_with_a_session_are_loaded(exports: Exports) -> None:
    store = SharedStore(exports.root, refresh_seconds=0)
    AttendanceState(store.open(1), facility_id=1, date=DAY)

    assert store.loaded_facilities == {1}
    tickets = store._source.connection.execute(  # type: ignore[union-attr]
        "SELECT DISTINCT facility_id FROM _mem_tickets"
    ).fetchall()
    assert tickets == [(1,)]


def test_a_new_export_file_appears_in_the_next_refresh(exports: Exports) -> None:
    store = SharedStore(exports.root, refresh_seconds=0)
    one = AttendanceState(store.open(1), facility_id=1, date=DAY)
    two = AttendanceState(store.open(2), facility_id=2, date=DAY)
    exports.write("tickets", [exports.ticket(2, 4, 202, DAY)])
    exports.write("checkins", [exports.scan(2, 4, 4, moment(DAY, 12))])

    two.refresh()
    one.refresh()

    assert (two.admitted, two.valid) == (2, 2)
    assert (one.admitted, one.valid) == (2, 2)


def test_refreshes_within_the_interval_read_the_files_once(exports: Exports) -> None:
    clock = Clock()
    store = SharedStore(exports.root, refresh_seconds=1.0, clock=clock)
    pages = [AttendanceState(store.open(f), facility_id=f, date=DAY) for f in (1, 2, 2)]
    clock.now += 5
    before = store.refreshes

    for page in pages:
        page.refresh()
    assert store.refreshes == before + 1

    exports.write("checkins", [exports.scan(2, 5, 3, moment(DAY, 15))])
    clock.now += 1.0
    pages[1].refresh()
    assert store.refreshes == before + 2
    assert pages[1].in_park == 2  # the new entry is read on the next interval


def test_background_refreshes_bring_a_new_file_to_every_page(exports: Exports) -> None:
    store = SharedStore(exports.root, refresh_seconds=0.05, background=True)
    try:
        one = AttendanceState(store.open(1), facility_id=1, date=DAY)
        two = AttendanceState(store.open(2), facility_id=2, date=DAY)
        exports.write("checkins", [exports.scan(1, 6, 1, moment(DAY, 16), direction="exit")])
        deadline = time.monotonic() + 30
        while one.in_park == 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            one.refresh()  # reads nothing itself: the store's thread did
            two.refresh()
    finally:
        store.stop()

    assert one.in_park == 1
    assert two.in_park == 1
    assert store.refreshes >= 1


def test_sessions_share_one_source_and_one_connection(exports: Exports) -> None:
    store = SharedStore(exports.root, refresh_seconds=0)
    pages = [AttendanceState(store.open(f), facility_id=f, date=DAY) for f in (1, 2) * 5]
    for page in pages:
        page.refresh()

    assert store.sessions_opened == 10
    assert store.sources_created == 1
    assert store.connections_opened == 1
    assert (store.sessions(1), store.sessions(2)) == (5, 5)


def test_an_idle_facility_is_forgotten_and_reloaded_on_return(exports: Exports) -> None:
    clock = Clock()
    store = SharedStore(exports.root, refresh_seconds=0, idle_seconds=60, clock=clock)
    one = store.open(1)
    two = store.open(2)
    AttendanceState(one, facility_id=1, date=DAY)
    AttendanceState(two, facility_id=2, date=DAY)
    two.close()
    two.close()  # closing twice releases once
    assert store.loaded_facilities == {1, 2}

    clock.now += 61
    store.refresh()
    assert store.loaded_facilities == {1}
    connection = store._source.connection  # type: ignore[union-attr]
    for table in ("_mem_tickets", "_checkin_tickets", "_admitted_orders", "_sales_lines"):
        rows = connection.execute(f"SELECT count(*) FROM {table} WHERE facility_id = 2").fetchall()
        assert rows == [(0,)], table
    with pytest.raises(FacilityMismatch):
        two.attendance(2, DAY)

    again = AttendanceState(store.open(2), facility_id=2, date=DAY)
    assert (again.admitted, again.valid) == (1, 1)
    assert store.sources_created == 1


def test_concurrent_sessions_on_threads_each_see_their_own_figures(exports: Exports) -> None:
    store = SharedStore(exports.root, refresh_seconds=0)
    expected = {1: (2, 2), 2: (1, 1), 3: (0, 0)}
    pages = {
        f: [AttendanceState(store.open(f), facility_id=f, date=DAY) for _ in range(3)]
        for f in expected
    }
    errors: list[BaseException] = []

    def run(facility_id: int, page: AttendanceState) -> None:
        try:
            for i in range(10):
                page.date = DAY - dt.timedelta(days=i % 2)  # the watcher refreshes
                page.date = DAY
                assert (page.admitted, page.valid) == expected[facility_id]
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(f, page)) for f, group in pages.items() for page in group
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
