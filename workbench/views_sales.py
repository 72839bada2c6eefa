"""The sales page (F20): a date range, totals, four breakdowns, CSV/XLSX, core check."""

from __future__ import annotations

import io

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the renderer that .opts() needs
import pandas as pd
import panel as pn
import param

from workbench.i18n import t
from workbench.roles import can
from workbench.sales import SalesState
from workbench.views_common import PageBase, card, table, yen


def sales_chart(frame: pd.DataFrame, lang: str) -> hv.Bars:
    """Sales per day as HoloViews bars."""
    data = (
        frame.assign(day=frame["day"].astype(str))
        if len(frame)
        else pd.DataFrame({"day": [], "amount": []})
    )
    return hv.Bars(
        data, kdims=[("day", t(lang, "date"))], vdims=[("amount", t(lang, "amount"))]
    ).opts(
        title=t(lang, "by_day"),
        color="#107bba",
        responsive=True,
        height=280,
        tools=["hover"],
        default_tools=[],
        toolbar=None,
    )


class SalesPage(PageBase):
    state = param.ClassSelector(class_=SalesState)
    page = "sales"

    def _totals(self, lang: str, amount: int, quantity: int, agrees: bool | None) -> pn.Row:
        check = "" if agrees is None else t(lang, "core_agrees" if agrees else "core_differs")
        return pn.Row(
            card(t(lang, "total"), yen(amount), "sales-total"),
            card(t(lang, "quantity"), f"{quantity:,}", "sales-quantity"),
            pn.pane.HTML(f'<p id="core-check">{check}</p>'),
        )

    def _breakdown(self, by: str, title: str, lang: str, _lines: object) -> pn.Column:
        frame = self.state.breakdown(by)
        return pn.Column(
            f"### {t(lang, title)}",
            table(
                frame.rename(columns={"quantity": t(lang, "quantity"), "amount": t(lang, "amount")})
            ),
        )

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state.param
        lang = self.param.lang
        role = self.identity.role if self.identity else "viewer"
        csv = pn.widgets.FileDownload(
            callback=lambda: io.BytesIO(self.state.csv_bytes()),
            filename="kippu-sales.csv",
            label="CSV",
            color="primary",
        )
        xlsx = pn.widgets.FileDownload(
            callback=lambda: io.BytesIO(self.state.xlsx_bytes()),
            filename="kippu-sales.xlsx",
            label="XLSX",
            color="primary",
        )
        tools: list[pn.viewable.Viewable] = [csv, xlsx] if can(role, "sales.download") else []
        if can(role, "sales.core_check"):
            check = pn.widgets.Button(label=t(self.lang, "core_check"), css_classes=["core-check"])
            check.on_click(lambda _: self.state.check_core())
            tools.append(check)
        breakdowns = [
            pn.bind(self._breakdown, by, title, lang, s.lines)
            for by, title in (
                ("channel", "by_channel"),
                ("method", "by_method"),
                ("product", "by_product_sales"),
                ("day", "by_day"),
            )
        ]
        return pn.Column(
            self.header(),
            pn.Row(
                pn.widgets.DatePicker.from_param(s.date_from, label=t(self.lang, "from")),
                pn.widgets.DatePicker.from_param(s.date_to, label=t(self.lang, "to")),
                *tools,
            ),
            pn.bind(self._totals, lang, s.total_amount, s.total_quantity, s.core_agrees),
            pn.pane.HoloViews(
                pn.bind(lambda f, lg: sales_chart(self.state.breakdown("day"), lg), s.lines, lang)
            ),
            pn.GridBox(*breakdowns, ncols=2, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
            max_width=1100,
        )
