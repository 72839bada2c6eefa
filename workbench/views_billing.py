"""The billing page (owners): monthly system-fee statements with PDF and CSV downloads
(state: :mod:`workbench.billing`)."""

from __future__ import annotations

import html
import io

import pandas as pd
import panel as pn
import param

from workbench.billing import BillingState
from workbench.i18n import t
from workbench.views_common import PageBase, table


class BillingPage(PageBase):
    state = param.ClassSelector(class_=BillingState)
    page = "billing"

    def _statements(self, lang: str, frame: pd.DataFrame | None, message: str) -> pn.Column:
        if message:
            return pn.Column(pn.pane.HTML(f'<p id="billing-message">{html.escape(message)}</p>'))
        if frame is None or frame.empty:
            return pn.Column(pn.pane.Markdown(t(lang, "billing_none")))
        months = list(frame["month"])
        month = pn.widgets.Select(
            label=t(lang, "billing_month"),
            options=months,
            value=months[0],
            css_classes=["billing-month"],
        )
        downloads = [
            pn.widgets.FileDownload(
                callback=pn.bind(self._file, month, kind),
                filename=f"statement.{kind}",
                label=kind.upper(),
                css_classes=[f"billing-{kind}"],
            )
            for kind in ("pdf", "csv")
        ]
        return pn.Column(table(frame, css_classes=["statements"]), pn.Row(month, *downloads))

    def _file(self, month: str, kind: str) -> io.BytesIO:
        return io.BytesIO(self.state.document(month, kind))

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state.param
        return pn.Column(
            self.header(),
            pn.bind(lambda lang: pn.pane.Markdown(t(lang, "billing_intro")), self.param.lang),
            pn.bind(self._statements, self.param.lang, s.statements, s.message),
            sizing_mode="stretch_width",
            max_width=1100,
        )
