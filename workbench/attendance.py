"""Live attendance state (F23): one facility, one day, and the numbers derived from them.

A ``param.Parameterized`` class without Panel, so tests and notebooks drive it by setting
parameters and calling :meth:`AttendanceState.refresh`; ``workbench.app`` renders it.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import param

from workbench.data_access import ExportSource


class AttendanceState(param.Parameterized):
    """Admitted, in the park, valid tickets, visit rate; by hour, gate and product; a week ago."""

    facility_id = param.Integer(default=1, bounds=(1, None), doc="Facility shown.")
    date = param.CalendarDate(default=None, allow_None=True, doc="Day shown (facility time).")

    admitted = param.Integer(default=0, constant=True, doc="Visitors admitted that day.")
    valid = param.Integer(default=0, constant=True, doc="Admission tickets valid that day.")
    visit_rate = param.Number(
        default=None, allow_None=True, constant=True, doc="admitted / valid; None if no ticket."
    )
    per_hour = param.DataFrame(
        default=pd.DataFrame({"hour": range(24), "admissions": 0}),
        constant=True,
        doc="Columns hour (0-23, facility time) and admissions.",
    )
    in_park = param.Integer(default=0, constant=True, doc="Entries minus exits that day.")
    by_gate = param.DataFrame(default=None, allow_None=True, constant=True, doc="By first gate.")
    by_product = param.DataFrame(default=None, allow_None=True, constant=True, doc="By product.")
    last_week_admitted = param.Integer(default=0, constant=True, doc="Same weekday a week ago.")
    last_week_per_hour = param.DataFrame(
        default=pd.DataFrame({"hour": range(24), "admissions": 0}),
        constant=True,
        doc="Admissions per hour on the same weekday a week before.",
    )
    timezone = param.String(default="Asia/Tokyo", constant=True, doc="The facility's zone.")
    refreshed_at = param.Date(default=None, allow_None=True, constant=True)

    def __init__(self, source: ExportSource, **params: object) -> None:
        self._source = source
        super().__init__(**params)
        self._today = source.today(self.facility_id)
        if self.date is None:
            self.date = self._today
        self.refresh()

    def tick(self) -> None:
        """The periodic refresh; a page showing today moves on at the facility's midnight."""
        today = self._source.today(self.facility_id)
        rolled_over = self.date == self._today and today != self._today
        self._today = today
        if rolled_over:
            self.date = today  # the watcher refreshes
        else:
            self.refresh()

    @param.depends("facility_id", "date", watch=True)
    def refresh(self) -> None:
        """Re-read the exports (new Parquet files included) and update the derived values."""
        self._source.refresh()
        day: dt.date = self.date or self._source.today(self.facility_id)
        attendance = self._source.attendance(self.facility_id, day)
        per_hour = self._source.admissions_per_hour(self.facility_id, day)
        week_ago = day - dt.timedelta(days=7)
        last_week = self._source.attendance(self.facility_id, week_ago)
        # param.update sets all values before calling watchers: the views redraw once.
        with param.edit_constant(self):
            self.param.update(
                admitted=attendance.admitted,
                valid=attendance.valid,
                visit_rate=attendance.visit_rate,
                per_hour=per_hour,
                in_park=self._source.in_park(self.facility_id, day),
                by_gate=self._source.admissions_by(self.facility_id, day, "gate"),
                by_product=self._source.admissions_by(self.facility_id, day, "product"),
                last_week_admitted=last_week.admitted,
                last_week_per_hour=self._source.admissions_per_hour(self.facility_id, week_ago),
                timezone=self._source.timezone(self.facility_id),
                refreshed_at=dt.datetime.now(dt.UTC),
            )
