"""The vouchers page: the facility's discount codes with their uses, a form for a new
one, and switching one off or on (state: :mod:`workbench.vouchers`)."""

from __future__ import annotations

import html

import pandas as pd
import panel as pn
import param

from workbench.i18n import t
from workbench.views_common import PageBase, table
from workbench.vouchers import VouchersState


class VouchersPage(PageBase):
    state = param.ClassSelector(class_=VouchersState)
    page = "vouchers"

    def _table(self, lang: str, frame: pd.DataFrame | None) -> pn.viewable.Viewable:
        title = f"### {t(lang, 'vouchers')}"
        if frame is not None and frame.empty:
            return pn.Column(title, pn.pane.Markdown(t(lang, "voucher_none")))
        labelled = None
        if frame is not None:
            labelled = frame.rename(
                columns={c: t(lang, f"voucher_col_{c}") for c in frame.columns if c != "id"}
            )
        return pn.Column(title, table(labelled, css_classes=["vouchers"]))

    def _form(self, lang: str) -> pn.viewable.Viewable:
        s = self.state.param
        create = pn.widgets.Button(
            label=t(lang, "voucher_create"), color="primary", css_classes=["voucher-create"]
        )
        create.on_click(lambda _: self.state.create())
        return pn.Column(
            f"### {t(lang, 'voucher_new')}",
            pn.Row(
                pn.widgets.TextInput.from_param(s.code, label=t(lang, "voucher_col_code")),
                pn.widgets.Select.from_param(s.kind, label=t(lang, "voucher_col_kind")),
                pn.widgets.IntInput.from_param(s.value, label=t(lang, "voucher_value")),
                pn.widgets.IntInput.from_param(s.max_uses, label=t(lang, "voucher_max_uses")),
            ),
            pn.Row(
                pn.widgets.TextInput.from_param(s.product_ids, label=t(lang, "voucher_products")),
                pn.widgets.TextInput.from_param(
                    s.valid_from, label=t(lang, "voucher_from"), placeholder="2026-07-01"
                ),
                pn.widgets.TextInput.from_param(
                    s.valid_until, label=t(lang, "voucher_until"), placeholder="2026-08-31"
                ),
            ),
            pn.widgets.TextInput.from_param(
                s.description, label=t(lang, "voucher_col_description")
            ),
            create,
        )

    def _switch(self, lang: str) -> pn.viewable.Viewable:
        voucher = pn.widgets.IntInput(label="ID", value=0, width=120)
        off = pn.widgets.Button(label=t(lang, "voucher_off"), css_classes=["voucher-off"])
        on = pn.widgets.Button(label=t(lang, "voucher_on"), css_classes=["voucher-on"])
        off.on_click(lambda _: self.state.set_active(voucher.value, False))
        on.on_click(lambda _: self.state.set_active(voucher.value, True))
        return pn.Row(voucher, off, on)

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state.param
        lang = self.lang
        return pn.Column(
            self.header(),
            pn.bind(
                lambda m: pn.pane.HTML(f'<p id="vouchers-message">{html.escape(m)}</p>'), s.message
            ),
            pn.bind(self._table, self.param.lang, s.vouchers),
            self._switch(lang),
            self._form(lang),
            sizing_mode="stretch_width",
            max_width=1200,
        )
