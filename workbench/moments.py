"""Moments from the core's answers (UTC) as the pages show them: in the facility's time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from workbench.data_access import DEFAULT_TIMEZONE


def local_time(moment: dt.datetime | None, timezone: str = DEFAULT_TIMEZONE) -> str:
    """``moment`` in the facility's time, to the second ("" for none)."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M:%S")
