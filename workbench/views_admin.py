"""The operations page (device health, order lookup) and the settings page."""

from __future__ import annotations

import html
import json

import pandas as pd
import panel as pn
import param

from kippu_contract.v1.staff import LookupLineOut, LookupOrderOut
from workbench.facility_settings import SettingsState
from workbench.i18n import t
from workbench.operations import OperationsState
from workbench.views_common import PageBase, table, yen


def _named(line: LookupLineOut, field: str, lang: str) -> str:
    """``line.<field>_ja`` or ``_en``: the line's name in the page's language."""
    return str(getattr(line, f"{field}_{'ja' if lang == 'ja' else 'en'}"))


class OperationsPage(PageBase):
    state = param.ClassSelector(class_=OperationsState)
    page = "operations"

    def _devices(
        self, lang: str, frame: pd.DataFrame | None, allowed: bool
    ) -> pn.viewable.Viewable:
        if not allowed:
            return pn.Column()  # the core refuses device health to this role: hide it
        return pn.Column(f"### {t(lang, 'devices')}", table(frame, css_classes=["devices"]))

    def _orders(self, lang: str, orders: list[LookupOrderOut], message: str) -> pn.pane.HTML:
        parts = [f'<p id="ops-message">{html.escape(message)}</p>']
        if any(o.masked for o in orders):
            parts.append(f"<p>{t(lang, 'masked')}</p>")
        for o in orders:
            lines = "".join(
                f"<li>{html.escape(_named(ln, 'product_name', lang))} / "
                f"{html.escape(_named(ln, 'category_name', lang))} × {ln.quantity} "
                f"({yen(ln.line_total)}) {ln.visit_date or ''}</li>"
                for ln in o.lines
            )
            pays = ", ".join(f"{p.method} {p.state}" for p in o.payments)
            parts.append(
                f'<div class="order"><b class="order-code">{html.escape(o.code)}</b> '
                f"{html.escape(o.status)} · {html.escape(o.channel)} · "
                f'{yen(o.total)} · <span class="customer-email">'
                f"{html.escape(o.customer_email)}</span> "
                f"{html.escape(o.customer_name)} · {html.escape(pays)}<ul>{lines}</ul>"
                f"<small>{t(lang, 'cancel_soon')}</small></div>"
            )
        return pn.pane.HTML("".join(parts), sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state.param
        lang = self.param.lang
        query = pn.widgets.TextInput.from_param(
            s.query, label=t(self.lang, "lookup"), css_classes=["lookup-query"]
        )
        search = pn.widgets.Button(label=t(self.lang, "search"), css_classes=["lookup-search"])
        search.on_click(lambda _: self.state.lookup())
        return pn.Column(
            self.header(),
            pn.bind(self._devices, lang, s.devices, s.devices_allowed),
            pn.Row(query, search),
            pn.bind(self._orders, lang, s.orders, s.message),
            sizing_mode="stretch_width",
            max_width=1100,
        )


class SettingsPage(PageBase):
    state = param.ClassSelector(class_=SettingsState)
    page = "settings"

    def _plugin_editor(self, name: str, plugin: dict[str, object]) -> pn.Row:
        lang = self.lang
        enabled = pn.widgets.Checkbox(
            label=f"{name} · {t(lang, 'enabled')}", value=bool(plugin.get("enabled"))
        )
        options = pn.widgets.TextAreaInput(
            label=t(lang, "options"),
            value=json.dumps(plugin.get("options") or {}, ensure_ascii=False),
            height=70,
        )

        def on_enabled(event: param.parameterized.Event) -> None:
            self.state.plugins = {
                **self.state.plugins,
                name: {**self.state.plugins[name], "enabled": event.new},
            }

        enabled.param.watch(on_enabled, "value")
        options.param.watch(lambda e: self.state.set_plugin_options(name, e.new), "value")
        return pn.Row(enabled, options)

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state.param
        lang = self.lang
        save = pn.widgets.Button(
            label=t(lang, "save"), color="primary", css_classes=["settings-save"]
        )
        save.on_click(lambda _: self.state.save())
        return pn.Column(
            self.header(),
            f"### {t(lang, 'payment_methods')}",
            # CheckBoxGroup shows no label of its own.
            pn.pane.Markdown(t(lang, "web_methods")),
            pn.widgets.CheckBoxGroup.from_param(s.web_methods, label=t(lang, "web_methods")),
            pn.pane.Markdown(t(lang, "kiosk_methods")),
            pn.widgets.CheckBoxGroup.from_param(s.kiosk_methods, label=t(lang, "kiosk_methods")),
            pn.widgets.Checkbox.from_param(s.self_cancel, label=t(lang, "self_cancel")),
            f"### {t(lang, 'plugins')}",
            *[self._plugin_editor(n, p) for n, p in self.state.plugins.items()],
            save,
            pn.bind(
                lambda m: pn.pane.HTML(f'<p id="settings-message">{html.escape(m)}</p>'), s.message
            ),
            sizing_mode="stretch_width",
            max_width=1000,
        )
