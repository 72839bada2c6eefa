"""The webhooks page: the facility's endpoints and the latest deliveries with their state,
attempts and the endpoint's last answer (state: :mod:`workbench.webhooks`)."""

from __future__ import annotations

import html

import pandas as pd
import panel as pn
import param

from workbench.i18n import t
from workbench.views_common import PageBase, table
from workbench.webhooks import WebhooksState


def _labelled(frame: pd.DataFrame | None, lang: str) -> pd.DataFrame | None:
    """The frame with its column titles in the page's language."""
    if frame is None:
        return None
    return frame.rename(columns={c: t(lang, f"col_{c}") for c in frame.columns if c != "id"})


class WebhooksPage(PageBase):
    state = param.ClassSelector(class_=WebhooksState)
    page = "webhooks"

    def _endpoints(self, lang: str, frame: pd.DataFrame | None) -> pn.viewable.Viewable:
        title = f"### {t(lang, 'webhook_endpoints')}"
        if frame is not None and frame.empty:
            return pn.Column(title, pn.pane.Markdown(t(lang, "webhook_none")))
        return pn.Column(title, table(_labelled(frame, lang), css_classes=["webhook-endpoints"]))

    def _deliveries(self, lang: str, frame: pd.DataFrame | None) -> pn.viewable.Viewable:
        return pn.Column(
            f"### {t(lang, 'webhook_deliveries')}",
            table(_labelled(frame, lang), css_classes=["webhook-deliveries"]),
        )

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state.param
        lang = self.param.lang
        older = pn.widgets.Button(label=t(self.lang, "webhook_older"), css_classes=["older"])
        older.on_click(lambda _: self.state.older())
        newest = pn.widgets.Button(label=t(self.lang, "webhook_newest"), css_classes=["newest"])
        newest.on_click(lambda _: self.state.newest())
        return pn.Column(
            self.header(),
            pn.bind(
                lambda m: pn.pane.HTML(f'<p id="webhooks-message">{html.escape(m)}</p>'), s.message
            ),
            pn.bind(self._endpoints, lang, s.endpoints),
            pn.bind(self._deliveries, lang, s.deliveries),
            pn.Row(newest, older),
            sizing_mode="stretch_width",
            max_width=1200,
        )
