"""The operations page (device health, order lookup, cancel and refund) and the settings page."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import panel as pn
import param

from kippu_contract.v1.staff import (
    LookupLineOut,
    LookupOrderOut,
    PluginOptionOut,
    QuoteOut,
    RefundOut,
)
from workbench.box_office import BoxOfficeState
from workbench.facility_settings import SettingsState
from workbench.i18n import state_message, t
from workbench.operations import OperationsState
from workbench.payment_keys import PaymentKeysState
from workbench.views_common import PageBase, table, yen
from workbench.views_payment_keys import PaymentKeysSection


def _named(line: LookupLineOut, field: str, lang: str) -> str:
    """``line.<field>_ja`` or ``_en``: the line's name in the page's language."""
    return str(getattr(line, f"{field}_{'ja' if lang == 'ja' else 'en'}"))


class OperationsPage(PageBase):
    state = param.ClassSelector(class_=OperationsState)
    #: Cancel and refund, for staff and above (None hides it: the core would refuse).
    box_office = param.ClassSelector(class_=BoxOfficeState, default=None, allow_None=True)
    page = "operations"

    def _devices(
        self, lang: str, frame: pd.DataFrame | None, allowed: bool
    ) -> pn.viewable.Viewable:
        if not allowed:
            return pn.Column()  # the core refuses device health to this role: hide it
        return pn.Column(f"### {t(lang, 'device_health')}", table(frame, css_classes=["devices"]))

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
                f"{html.escape(o.customer_name)} · {html.escape(pays)}<ul>{lines}</ul></div>"
            )
        return pn.pane.HTML("".join(parts), sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state.param
        lang = self.param.lang
        query = pn.widgets.TextInput.from_param(
            s.query, label=t(self.lang, "lookup"), css_classes=["lookup-query"]
        )
        search = pn.widgets.Button(label=t(self.lang, "search"), css_classes=["lookup-search"])
        search.on_click(lambda _: self._lookup())
        return pn.Column(
            self.header(),
            pn.bind(self._devices, lang, s.devices, s.devices_allowed),
            pn.Row(query, search),
            pn.bind(self._orders, lang, s.orders, s.message),
            self._box_office(),
            sizing_mode="stretch_width",
            max_width=1100,
        )

    def _lookup(self) -> None:
        self.state.lookup()
        if self.box_office is not None and len(self.state.orders) == 1:
            self.box_office.order_code = self.state.orders[0].code  # the one found

    def _ticket_choices(self, code: str) -> dict[str, int]:
        for order in self.state.orders:
            if order.code == code:
                return {
                    f"#{tk.id} {tk.valid_from}": tk.id
                    for tk in order.tickets
                    if tk.status == "valid"
                }
        return {}

    def _box_office(self) -> pn.viewable.Viewable:
        bo = self.box_office
        if bo is None:
            return pn.Column()
        bo.lang = self.lang
        self.param.watch(lambda event: setattr(bo, "lang", event.new), "lang")
        code = pn.widgets.TextInput.from_param(
            bo.param.order_code,
            label=t(self.lang, "cancel_order_code"),
            css_classes=["cancel-code"],
        )
        tickets = pn.widgets.MultiChoice.from_param(
            bo.param.ticket_ids,
            label=t(self.lang, "cancel_tickets"),
            options=self._ticket_choices(bo.order_code),
            css_classes=["cancel-tickets"],
        )
        bo.param.watch(
            lambda event: setattr(tickets, "options", self._ticket_choices(event.new)),
            "order_code",
        )
        ask = pn.widgets.Button(
            label=t(self.lang, "cancel_quote_button"), css_classes=["cancel-quote"]
        )
        ask.on_click(lambda _: bo.ask_quote())
        confirm = pn.widgets.Button(
            label=t(self.lang, "cancel_confirm_button"),
            button_type="danger",
            css_classes=["cancel-confirm"],
            disabled=pn.bind(lambda quote: quote is None, bo.param.quote),
        )
        confirm.on_click(lambda _: bo.confirm())
        return pn.Column(
            f"### {t(self.lang, 'box_office')}",
            pn.Row(code, tickets),
            pn.Row(ask, confirm),
            pn.bind(self._quote, self.param.lang, bo.param.quote, bo.param.message),
            pn.bind(self._refunds, self.param.lang, bo.param.refunds, bo.param.refunds_allowed),
        )

    def _quote(self, lang: str, quote: QuoteOut | None, message: str) -> pn.pane.HTML:
        parts = [f'<p id="box-office-message">{html.escape(message)}</p>']
        if quote is not None:
            rows = "".join(
                f"<tr><td>#{q.ticket_id}</td><td>{yen(q.base)}</td><td>{yen(q.fee)}</td>"
                f"<td>{yen(q.refund)}</td><td>{q.days_before}</td></tr>"
                for q in quote.tickets
            )
            summary = t(lang, "cancel_quote").format(
                refund=f"{quote.refund_amount:,}",
                fee=f"{quote.fee:,}",
                kept=f"{quote.handling_fee_kept:,}",
            )
            parts.append(
                f'<table class="cancel-quote-table">{rows}</table>'
                f'<p class="cancel-quote-summary"><b>{html.escape(summary)}</b></p>'
            )
        return pn.pane.HTML("".join(parts), sizing_mode="stretch_width")

    def _refunds(self, lang: str, refunds: list[RefundOut], allowed: bool) -> pn.viewable.Viewable:
        if not allowed or self.box_office is None:
            return pn.Column()
        bo = self.box_office
        title = f"#### {t(lang, 'refunds_for_staff')}"
        if not refunds:
            return pn.Column(
                title, pn.pane.HTML(f'<p class="no-refunds">{t(lang, "no_refunds")}</p>')
            )
        frame = pd.DataFrame(
            [
                {
                    "id": r.id,
                    "order": r.order_code,
                    "state": r.state,
                    "amount": r.amount,
                    "attempts": r.attempts,
                    "last_error": r.last_error[:120],
                    "updated_at": r.updated_at,
                }
                for r in refunds
            ]
        )
        failed = [r.id for r in refunds if r.state == "failed"]
        if not failed:
            return pn.Column(title, table(frame, css_classes=["refunds"]))
        which = pn.widgets.Select(options=failed, value=failed[0], css_classes=["refund-id"])
        retry = pn.widgets.Button(
            label=t(lang, "refund_retry_button"), css_classes=["refund-retry"]
        )
        retry.on_click(lambda _: bo.retry(int(which.value)))
        return pn.Column(title, table(frame, css_classes=["refunds"]), pn.Row(which, retry))


class SettingsPage(PageBase):
    state = param.ClassSelector(class_=SettingsState)
    #: The payment provider keys section (None: not shown).
    payment_keys = param.ClassSelector(class_=PaymentKeysState, default=None, allow_None=True)
    page = "settings"

    def _option_widget(self, name: str, field: PluginOptionOut) -> pn.widgets.Widget:
        """The widget of one declared option, by its kind (``plugin-option-<plugin>-<name>``)."""
        label = field.label_ja if self.lang == "ja" else field.label_en
        value = self.state.option_value(name, field)
        css = [f"plugin-option-{name}-{field.name}", f"plugin-option-{field.kind}"]
        widget: pn.widgets.Widget
        if field.kind == "bool":
            widget = pn.widgets.Checkbox(label=label, value=bool(value), css_classes=css)
        elif field.kind == "choice":
            widget = pn.widgets.Select(
                label=label, options=list(field.choices), value=value, css_classes=css
            )
        elif field.kind in ("int", "number"):
            cls = pn.widgets.IntInput if field.kind == "int" else pn.widgets.FloatInput
            number = int if field.kind == "int" else float
            bounds = {
                k: number(v)
                for k, v in (("start", field.minimum), ("end", field.maximum))
                if v is not None
            }
            widget = cls(label=label, value=value, css_classes=css, **bounds)
        elif field.kind == "secret":
            widget = pn.widgets.PasswordInput(
                label=label, value="", placeholder="••••••", css_classes=css
            )
        else:
            widget = pn.widgets.TextInput(label=label, value=str(value or ""), css_classes=css)
        widget.param.watch(lambda e: self.state.set_plugin_option(name, field.name, e.new), "value")
        return widget

    def _fee_tiers(self, lang: str, tiers: list[dict[str, int]]) -> pn.viewable.Viewable:
        """A row of number inputs per fee tier (``fee-tier-*``), and add/remove buttons."""
        rows = []
        for index, tier in enumerate(tiers):
            inputs = []
            for key, label in (
                ("days_before", "fee_days_before"),
                ("percent", "fee_percent"),
                ("fixed", "fee_fixed"),
            ):
                box = pn.widgets.IntInput(
                    label=t(lang, label), value=int(tier[key]), start=0,
                    css_classes=[f"fee-tier-{key.replace('_', '-')}"],
                )  # fmt: skip
                box.param.watch(
                    lambda e, i=index, k=key: self.state.set_fee_tier(i, k, e.new), "value"
                )
                inputs.append(box)
            remove = pn.widgets.Button(label=t(lang, "fee_remove"), css_classes=["fee-tier-remove"])
            remove.on_click(lambda _, i=index: self.state.remove_fee_tier(i))
            rows.append(pn.Row(*inputs, remove, css_classes=["fee-tier"]))
        add = pn.widgets.Button(label=t(lang, "fee_add"), css_classes=["fee-tier-add"])
        add.on_click(lambda _: self.state.add_fee_tier())
        return pn.Column(*rows, add)

    def _plugin_editor(self, name: str, plugin: dict[str, Any]) -> pn.Column:
        lang = self.lang
        enabled = pn.widgets.Checkbox(
            label=f"{name} · {t(lang, 'enabled')}",
            value=bool(plugin.get("enabled")),
            css_classes=[f"plugin-{name}-enabled"],
        )
        enabled.param.watch(lambda e: self.state.set_plugin_enabled(name, e.new), "value")
        fields = [self._option_widget(name, f) for f in plugin.get("fields", [])]
        return pn.Column(enabled, *fields, css_classes=[f"plugin-{name}"])

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
            pn.widgets.CheckBoxGroup.from_param(
                s.web_methods, label=t(lang, "web_methods"), css_classes=["web-methods"]
            ),
            pn.pane.Markdown(t(lang, "kiosk_methods")),
            pn.widgets.CheckBoxGroup.from_param(
                s.kiosk_methods, label=t(lang, "kiosk_methods"), css_classes=["kiosk-methods"]
            ),
            f"### {t(lang, 'cancellation')}",
            pn.widgets.Checkbox.from_param(
                s.self_cancel, label=t(lang, "self_cancel"), css_classes=["self-cancel"]
            ),
            pn.widgets.IntInput.from_param(
                s.self_cancel_until_days,
                label=t(lang, "self_cancel_until_days"),
                css_classes=["self-cancel-until-days"],
            ),
            pn.pane.Markdown(t(lang, "fee_tiers")),
            pn.bind(self._fee_tiers, self.param.lang, s.fee_tiers),
            pn.widgets.TextInput.from_param(
                s.tax_registration_number,
                label=t(lang, "registration_number"),
                placeholder="T0000000000000",
                css_classes=["registration-number"],
            ),
            f"### {t(lang, 'plugins')}",
            *[self._plugin_editor(n, p) for n, p in self.state.plugins.items()],
            save,
            pn.bind(
                lambda m: pn.pane.HTML(
                    f'<p id="settings-message">{html.escape(state_message(lang, m))}</p>'
                ),
                s.message,
            ),
            *self._payment_keys(lang),
            sizing_mode="stretch_width",
            max_width=1000,
        )

    def _payment_keys(self, lang: str) -> list[pn.viewable.Viewable]:
        if self.payment_keys is None:
            return []
        role = self.identity.role if self.identity else "viewer"
        return [PaymentKeysSection(state=self.payment_keys, role=role, lang=lang)]
