"""The price of a time-based stay at its boundaries: units started, free minutes, the
daily cap, and midnight decided in the facility's time zone."""

from __future__ import annotations

import datetime as dt

from core_service.catalog.stay_pricing import StayRate, stay_price

JST = dt.timezone(dt.timedelta(hours=9))
TOKYO = "Asia/Tokyo"
RATE = StayRate(unit_minutes=30, unit_price=500)
ENTRY = dt.datetime(2026, 12, 8, 10, 0, tzinfo=JST)


def _after(**delta: float) -> dt.datetime:
    return ENTRY + dt.timedelta(**delta)


def test_leaving_at_the_entry_instant_costs_nothing() -> None:
    assert stay_price(RATE, ENTRY, ENTRY, TOKYO) == 0


def test_one_second_starts_the_first_unit() -> None:
    assert stay_price(RATE, ENTRY, _after(seconds=1), TOKYO) == 500


def test_exactly_thirty_minutes_is_one_unit() -> None:
    assert stay_price(RATE, ENTRY, _after(minutes=30), TOKYO) == 500


def test_thirty_minutes_and_one_second_start_the_second_unit() -> None:
    assert stay_price(RATE, ENTRY, _after(minutes=30, seconds=1), TOKYO) == 1000


def test_free_minutes_are_not_charged_and_units_count_after_them() -> None:
    rate = StayRate(unit_minutes=30, unit_price=500, free_minutes=15)
    assert stay_price(rate, ENTRY, _after(minutes=15), TOKYO) == 0
    assert stay_price(rate, ENTRY, _after(minutes=15, seconds=1), TOKYO) == 500
    assert stay_price(rate, ENTRY, _after(minutes=45), TOKYO) == 500
    assert stay_price(rate, ENTRY, _after(minutes=45, seconds=1), TOKYO) == 1000


def test_the_daily_cap_stops_the_price_of_one_day() -> None:
    rate = StayRate(unit_minutes=30, unit_price=500, daily_cap=2000)
    assert stay_price(rate, ENTRY, _after(minutes=90), TOKYO) == 1500
    assert stay_price(rate, ENTRY, _after(minutes=120), TOKYO) == 2000  # cap reached exactly
    assert stay_price(rate, ENTRY, _after(hours=6), TOKYO) == 2000


def test_a_stay_across_facility_midnight_pays_each_days_cap() -> None:
    rate = StayRate(unit_minutes=30, unit_price=500, daily_cap=2000)
    evening = dt.datetime(2026, 12, 8, 22, 0, tzinfo=JST)
    # 22:00-24:00 is 4 units (capped at 2000), 00:00-01:00 two more on the next day.
    assert stay_price(rate, evening, evening + dt.timedelta(hours=3), TOKYO) == 2000 + 1000


def test_midnight_is_the_facilitys_not_utcs() -> None:
    rate = StayRate(unit_minutes=60, unit_price=500, daily_cap=1000)
    # 08:00-11:00 JST crosses UTC midnight (23:00-02:00 UTC) but not Tokyo's: one day.
    morning = dt.datetime(2026, 12, 8, 8, 0, tzinfo=JST)
    assert stay_price(rate, morning, morning + dt.timedelta(hours=3), TOKYO) == 1000
    # The same instants in a UTC facility are two days: 23:00 (1 unit), 00:00-02:00 (2).
    assert stay_price(rate, morning, morning + dt.timedelta(hours=3), "UTC") == 500 + 1000


def test_a_unit_belongs_to_the_day_it_starts() -> None:
    rate = StayRate(unit_minutes=30, unit_price=500, daily_cap=500)
    late = dt.datetime(2026, 12, 8, 23, 45, tzinfo=JST)
    # One unit from 23:45 to 00:15, started on the first day: one cap, one unit.
    assert stay_price(rate, late, late + dt.timedelta(minutes=30), TOKYO) == 500
    assert stay_price(rate, late, late + dt.timedelta(minutes=31), TOKYO) == 1000


def test_a_product_without_a_rate_costs_nothing() -> None:
    assert stay_price(StayRate(0, 0), ENTRY, _after(hours=5), TOKYO) == 0
