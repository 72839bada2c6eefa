"""Time as a facility sees it: a park's "today" is its own time zone's today.

Every part uses these, so the core, the workbench and the notebooks agree on which day a
sale or a scan belongs to (stored instants are UTC; days are the facility's).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def facility_today(timezone: str, now: dt.datetime | None = None) -> dt.date:
    return (now or utcnow()).astimezone(ZoneInfo(timezone)).date()


def local_date(moment: dt.datetime, timezone: str) -> dt.date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def local_bounds(day_from: dt.date, day_to: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """UTC instants of the facility's midnight starting ``day_from`` and ending ``day_to``."""
    zone = ZoneInfo(tz)
    start = dt.datetime.combine(day_from, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(day_to + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return start, end
