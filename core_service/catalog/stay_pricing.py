"""The price of a time-based stay (F19): units started, free minutes, a daily cap.

A stay product charges ``unit_price`` yen for every ``unit_minutes`` started after the
first ``free_minutes``; the units that start on one facility-local calendar day cost at
most ``daily_cap`` yen together (0: no cap). So a stay across midnight pays each day's
units against that day's cap, decided in the facility's time zone, not UTC.

Exactly one unit long is one unit (10:00 to 10:30 is one 30-minute unit); one second more
starts the next. Pure functions only: the gate, the kiosk and the web page all price a
stay through :func:`stay_price`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo


class _StayProduct(Protocol):
    @property
    def stay_unit_minutes(self) -> int: ...
    @property
    def stay_unit_price(self) -> int: ...
    @property
    def stay_daily_cap(self) -> int: ...
    @property
    def stay_free_minutes(self) -> int: ...


@dataclass(frozen=True, slots=True)
class StayRate:
    unit_minutes: int
    #: Tax-inclusive yen per unit started.
    unit_price: int
    #: Most yen the units starting on one facility-local day cost; 0 for no cap.
    daily_cap: int = 0
    free_minutes: int = 0

    @classmethod
    def of(cls, product: _StayProduct) -> StayRate:
        return cls(
            unit_minutes=product.stay_unit_minutes,
            unit_price=product.stay_unit_price,
            daily_cap=product.stay_daily_cap,
            free_minutes=product.stay_free_minutes,
        )


def _ceil_div(a: dt.timedelta, b: dt.timedelta) -> int:
    return -(-a // b)


def stay_price(rate: StayRate, entered_at: dt.datetime, left_at: dt.datetime, timezone: str) -> int:
    """Tax-inclusive yen for staying from ``entered_at`` to ``left_at`` (aware instants)."""
    if rate.unit_minutes <= 0 or rate.unit_price <= 0:
        return 0
    start = entered_at + dt.timedelta(minutes=rate.free_minutes)
    if left_at <= start:
        return 0
    unit = dt.timedelta(minutes=rate.unit_minutes)
    units = _ceil_div(left_at - start, unit)
    zone = ZoneInfo(timezone)
    day = start.astimezone(zone).date()
    last_day = (start + (units - 1) * unit).astimezone(zone).date()
    total = 0
    while day <= last_day:
        # The units whose start lies in [midnight, next midnight) of this local day.
        day_start = dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)
        day_end = dt.datetime.combine(
            day + dt.timedelta(days=1), dt.time(), tzinfo=zone
        ).astimezone(dt.UTC)
        first = max(0, _ceil_div(day_start - start, unit))
        after = min(units, _ceil_div(day_end - start, unit))
        amount = max(0, after - first) * rate.unit_price
        total += min(amount, rate.daily_cap) if rate.daily_cap > 0 else amount
        day += dt.timedelta(days=1)
    return total
