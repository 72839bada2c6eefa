"""The live attendance page (F23): numbers, hourly bars against last week, gate, product."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the renderer that .opts() needs
import pandas as pd
import panel as pn
import param

from workbench.attendance import AttendanceState
from workbench.i18n import t
from workbench.views_common import PageBase, card, table


def admissions_chart(
    per_hour: pd.DataFrame, lang: str, last_week: pd.DataFrame | None = None
) -> hv.Overlay | hv.Bars:
    """Admissions per hour as HoloViews bars, with last week's same weekday as a line."""
    frame = per_hour.assign(hour=per_hour["hour"].map(lambda h: f"{h:02d}"))
    bars = hv.Bars(
        frame,
        kdims=[("hour", t(lang, "hour"))],
        vdims=[("admissions", t(lang, "admissions"))],
        label=t(lang, "today"),
    ).opts(color="#107bba", tools=["hover"])
    opts = dict(
        title=t(lang, "per_hour"),
        responsive=True,
        height=320,
        default_tools=[],
        toolbar=None,
        hooks=[_whole_number_ticks],
    )
    if last_week is None:
        return bars.opts(**opts)
    week = last_week.assign(hour=last_week["hour"].map(lambda h: f"{h:02d}"))
    curve = hv.Curve(
        week,
        kdims=[("hour", t(lang, "hour"))],
        vdims=[("admissions", t(lang, "admissions"))],
        label=t(lang, "week_ago"),
    ).opts(color="#e07b00", line_dash="dashed")
    return (bars * curve).opts(**opts, legend_position="top_left")


def _whole_number_ticks(plot: Any, element: Any) -> None:
    # Visitors come in whole numbers; Bokeh would otherwise tick 0.2, 0.4, ... on quiet days.
    plot.state.yaxis.ticker.min_interval = 1


def _labelled(frame: pd.DataFrame | None, lang: str) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame({"": [], t(lang, "admissions"): []})
    return pd.DataFrame(
        {
            "": frame["label_ja" if lang == "ja" else "label_en"],
            t(lang, "admissions"): frame["admissions"],
        }
    )


class AttendancePage(PageBase):
    """The live attendance page of one facility, in Japanese or English."""

    state = param.ClassSelector(class_=AttendanceState)
    page = "attendance"

    def _numbers(
        self, lang: str, admitted: int, in_park: int, valid: int, rate: float | None, last_week: int
    ) -> pn.Row:
        rate_text = "—" if rate is None else f"{rate:.1%}"
        return pn.Row(
            card(t(lang, "admitted"), f"{admitted:,}", "admitted"),
            card(t(lang, "in_park"), f"{in_park:,}", "in-park"),
            card(t(lang, "valid"), f"{valid:,}", "valid"),
            card(t(lang, "visit_rate"), rate_text, "visit-rate"),
            card(t(lang, "last_week"), f"{last_week:,}", "last-week"),
        )

    def _footer(self, lang: str, refreshed_at: Any, tz: str) -> pn.pane.Markdown:
        # The facility's clock, not the server's: managers compare it with the gates.
        when = refreshed_at.astimezone(ZoneInfo(tz)).strftime("%H:%M:%S") if refreshed_at else "—"
        return pn.pane.Markdown(f"{t(lang, 'updated')}: {when}", styles={"color": "#777"})

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state.param
        lang = self.param.lang
        return pn.Column(
            self.header(),
            pn.widgets.DatePicker.from_param(s.date, label=""),
            pn.bind(
                self._numbers,
                lang,
                s.admitted,
                s.in_park,
                s.valid,
                s.visit_rate,
                s.last_week_admitted,
            ),
            pn.pane.HoloViews(pn.bind(admissions_chart, s.per_hour, lang, s.last_week_per_hour)),
            pn.Row(
                pn.Column(
                    pn.bind(lambda lg: f"### {t(lg, 'by_gate')}", lang),
                    pn.bind(lambda f, lg: table(_labelled(f, lg)), s.by_gate, lang),
                ),
                pn.Column(
                    pn.bind(lambda lg: f"### {t(lg, 'by_product')}", lang),
                    pn.bind(lambda f, lg: table(_labelled(f, lg)), s.by_product, lang),
                ),
            ),
            pn.bind(self._footer, lang, s.refreshed_at, s.timezone),
            sizing_mode="stretch_width",
            max_width=1100,
        )
