"""Facility-local dates: a park's "today" is its own timezone's today."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from core_service.models import utcnow


def facility_today(timezone: str, now: dt.datetime | None = None) -> dt.date:
    return (now or utcnow()).astimezone(ZoneInfo(timezone)).date()


def local_date(moment: dt.datetime, timezone: str) -> dt.date:
    return moment.astimezone(ZoneInfo(timezone)).date()
