"""Pieces every workbench page shares: the header with navigation, number cards, tables."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import panel as pn
import param

from workbench.core_client import StaffIdentity
from workbench.i18n import LANGS, t
from workbench.roles import pages_for


def card(label: str, value: str, css_id: str = "") -> pn.pane.HTML:
    ident = f' id="{css_id}"' if css_id else ""
    return pn.pane.HTML(
        f'<div style="font-size:.9em;color:#555">{html.escape(label)}</div>'
        f'<div{ident} style="font-size:2.4em;font-weight:600">{html.escape(value)}</div>',
        styles={"border": "1px solid #ddd", "padding": "0.5em 1em", "background": "#fff"},
        min_width=180,
    )


def table(frame: pd.DataFrame | None, **kwargs: Any) -> pn.widgets.Tabulator:
    return pn.widgets.Tabulator(
        frame if frame is not None else pd.DataFrame(),
        disabled=True,
        show_index=False,
        sizing_mode="stretch_width",
        **kwargs,
    )


def yen(amount: int) -> str:
    return f"¥{amount:,}"


class PageBase(pn.viewable.Viewer):
    """Header (title, facility, the pages this role may open, language, logout)."""

    identity = param.ClassSelector(class_=StaffIdentity)
    lang = param.Selector(default="ja", objects=["ja", "en"])
    page = "attendance"

    def _header(self, lang: str) -> pn.viewable.Viewable:
        # The name comes from the core's data; escaped so it can only ever be text.
        name = html.escape(self.identity.facility_name(lang)) if self.identity else ""
        role = self.identity.role if self.identity else "viewer"
        links = " · ".join(
            f'<a href="./{p}?lang={lang}" class="nav-{p}">{html.escape(t(lang, p))}</a>'
            if p != self.page
            else f"<b>{html.escape(t(lang, p))}</b>"
            for p in pages_for(role)
        )
        return pn.Column(
            pn.pane.Markdown(f"## {t(lang, self.page)} · {name}"),
            pn.pane.HTML(f'<nav>{links} · <a href="./logout">{t(lang, "logout")}</a></nav>'),
        )

    def header(self) -> pn.Row:
        switch = pn.widgets.RadioButtonGroup.from_param(self.param.lang, options=LANGS, label="")
        return pn.Row(pn.bind(self._header, self.param.lang), pn.Spacer(), switch)
