"""The set-up pages: staff accounts, devices, and the audit log of set-up changes
(states: :mod:`workbench.staff_admin`, :mod:`workbench.devices`, :mod:`workbench.audit`).

Every widget carries a stable CSS class (``staff-*``, ``device-*``, ``audit-*``) for
browser tests; a one-time password or enrolment code appears in its own element
(``.one-time-password``, ``.enrolment-code``) and is gone after the next action.
"""

from __future__ import annotations

import html

import pandas as pd
import panel as pn
import param

from workbench.audit import AuditState
from workbench.devices import DevicesState
from workbench.i18n import state_message, t
from workbench.staff_admin import StaffAdminState
from workbench.views_common import PageBase, table


def _message(css_id: str, lang: str, text: str) -> pn.pane.HTML:
    return pn.pane.HTML(f'<p id="{css_id}">{html.escape(state_message(lang, text))}</p>')


def _secret(lang: str, key: str, css_class: str, value: str) -> pn.pane.HTML:
    if not value:
        return pn.pane.HTML("")
    return pn.pane.HTML(
        f'<p>{html.escape(t(lang, key))}: <code class="{css_class}">{html.escape(value)}</code></p>'
    )


def _button(label: str, css_class: str, action: object, **kwargs: object) -> pn.widgets.Button:
    button = pn.widgets.Button(label=label, css_classes=[css_class], **kwargs)
    button.on_click(lambda _: action())  # type: ignore[operator]
    return button


class StaffPage(PageBase):
    state = param.ClassSelector(class_=StaffAdminState)
    page = "staff"

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state.param
        lang = self.lang
        which = pn.widgets.Select(
            label=t(lang, "staff_which"), options=self.state.choices(), css_classes=["staff-which"]
        )
        which.link(self.state, value="member_id")
        s.watch(lambda _: setattr(which, "options", self.state.choices()), "members")
        return pn.Column(
            self.header(),
            pn.bind(lambda m: _message("staff-message", self.lang, m), s.message),
            pn.bind(
                lambda p: _secret(self.lang, "one_time_password", "one-time-password", p),
                s.one_time_password,
            ),
            pn.bind(lambda _: table(self.state.frame(), css_classes=["staff-members"]), s.members),
            f"### {t(lang, 'staff_new')}",
            pn.Row(
                pn.widgets.TextInput.from_param(
                    s.new_email, label=t(lang, "staff_email"), css_classes=["staff-new-email"]
                ),
                pn.widgets.TextInput.from_param(
                    s.new_display_name,
                    label=t(lang, "staff_display_name"),
                    css_classes=["staff-new-name"],
                ),
                pn.widgets.Select.from_param(
                    s.new_role, label=t(lang, "staff_role"), css_classes=["staff-new-role"]
                ),
            ),
            _button(t(lang, "staff_add"), "staff-add", self.state.add, color="primary"),
            f"### {t(lang, 'staff_edit')}",
            pn.Row(
                which,
                pn.widgets.Select.from_param(
                    s.role, label=t(lang, "staff_role"), css_classes=["staff-role"]
                ),
                pn.widgets.TextInput.from_param(
                    s.display_name, label=t(lang, "staff_display_name"), css_classes=["staff-name"]
                ),
                pn.widgets.Checkbox.from_param(
                    s.active, label=t(lang, "staff_active"), css_classes=["staff-active"]
                ),
            ),
            pn.Row(
                _button(t(lang, "staff_save"), "staff-save", self.state.save),
                _button(t(lang, "staff_reset"), "staff-reset", self.state.reset_password),
            ),
            sizing_mode="stretch_width",
            max_width=1100,
        )


class DevicesPage(PageBase):
    state = param.ClassSelector(class_=DevicesState)
    page = "devices"

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state.param
        lang = self.lang
        which = pn.widgets.Select(
            label=t(lang, "device_which"),
            options=self.state.choices(),
            css_classes=["device-which"],
        )
        which.link(self.state, value="device_id")
        s.watch(lambda _: setattr(which, "options", self.state.choices()), "devices")
        products = pn.widgets.MultiChoice(
            label=t(lang, "device_products"),
            options=self.state.product_choices(),
            value=list(self.state.product_ids),
            css_classes=["device-products"],
        )
        products.link(self.state, value="product_ids")
        s.watch(lambda e: setattr(products, "value", list(e.new)), "product_ids")
        return pn.Column(
            self.header(),
            pn.bind(lambda m: _message("devices-message", self.lang, m), s.message),
            pn.bind(
                lambda c: _secret(self.lang, "enrolment_code", "enrolment-code", c),
                s.enrolment_code,
            ),
            pn.bind(lambda _: table(self.state.frame(), css_classes=["device-list"]), s.devices),
            f"### {t(lang, 'device_new')}",
            pn.Row(
                pn.widgets.Select.from_param(
                    s.new_kind, label=t(lang, "device_kind"), css_classes=["device-new-kind"]
                ),
                pn.widgets.TextInput.from_param(
                    s.new_name, label=t(lang, "device_name"), css_classes=["device-new-name"]
                ),
            ),
            _button(t(lang, "device_create"), "device-create", self.state.create, color="primary"),
            pn.Row(which, products),
            pn.Row(
                _button(
                    t(lang, "device_products_save"),
                    "device-products-save",
                    self.state.save_products,
                ),
                _button(
                    t(lang, "device_revoke"),
                    "device-revoke",
                    self.state.revoke,
                    color="danger",
                ),
            ),
            sizing_mode="stretch_width",
            max_width=1100,
        )


def _audit_frame(frame: pd.DataFrame | None, lang: str) -> pd.DataFrame | None:
    if frame is None:
        return None
    return frame.rename(columns={c: t(lang, f"col_{c}") for c in frame.columns})


class AuditPage(PageBase):
    state = param.ClassSelector(class_=AuditState)
    page = "audit"

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state.param
        lang = self.lang
        return pn.Column(
            self.header(),
            pn.bind(lambda m: _message("audit-message", self.lang, m), s.message),
            pn.bind(
                lambda f: table(_audit_frame(f, self.lang), css_classes=["audit-entries"]),
                s.entries,
            ),
            pn.Row(
                _button(t(lang, "audit_newest"), "audit-newest", self.state.newest),
                _button(t(lang, "audit_older"), "audit-older", self.state.older),
            ),
            sizing_mode="stretch_width",
            max_width=1200,
        )
