"""The settings page's "Payment provider keys" section: per provider its masked keys and
when they were entered; for the owner, a password input per declared field and a save
button (``payment-keys-<provider>-<field>``, ``payment-keys-<provider>-save``)."""

from __future__ import annotations

import html

import panel as pn
import param

from workbench.i18n import state_message, t
from workbench.payment_keys import PaymentKeysState
from workbench.roles import can


class PaymentKeysSection(pn.viewable.Viewer):
    state = param.ClassSelector(class_=PaymentKeysState)
    role = param.String(default="viewer")
    lang = param.Selector(default="ja", objects=["ja", "en"])

    def _masked(self, lang: str, provider: dict[str, object]) -> pn.pane.HTML:
        """The stored keys as the core masks them; every declared field, set or not."""
        name = str(provider["provider"])
        masked: dict[str, str] = provider["masked"]  # type: ignore[assignment]
        labels = {
            f.name: f.label_ja if lang == "ja" else f.label_en
            for f in provider["fields"]  # type: ignore[attr-defined]
        }
        rows = "".join(
            f"<tr><td>{html.escape(labels.get(field, field))}</td>"
            f'<td class="payment-keys-{name}-{field}-masked">'
            f"{html.escape(masked.get(field) or t(lang, 'payment_keys_not_set'))}</td></tr>"
            for field in [*labels, *(f for f in masked if f not in labels)]
        )
        updated = html.escape(str(provider["updated_at"] or t(lang, "payment_keys_not_set")))
        return pn.pane.HTML(
            f'<table class="payment-keys-{name}-masked">{rows}</table>'
            f'<p class="payment-keys-{name}-updated">'
            f"{t(lang, 'payment_keys_updated')}: {updated}</p>"
        )

    def _inputs(self, lang: str, name: str) -> list[pn.viewable.Viewable]:
        """A password input per declared field and the save button; emptied once saved."""
        inputs = []
        for field in self.state.fields(name):
            box = pn.widgets.PasswordInput(
                label=field.label_ja if lang == "ja" else field.label_en,
                value="",
                css_classes=[f"payment-keys-{name}-{field.name}"],
            )
            # value_input follows each keystroke: a click on save right after typing counts.
            box.param.watch(
                lambda e, f=field.name: self.state.set_value(name, f, e.new),
                ["value", "value_input"],
            )
            inputs.append(box)
        save = pn.widgets.Button(
            label=t(lang, "payment_keys_save"),
            color="primary",
            css_classes=[f"payment-keys-{name}-save"],
        )

        def saved(_: object) -> None:
            if self.state.save(name):
                for box in inputs:
                    box.value = box.value_input = ""

        save.on_click(saved)
        return [*inputs, save]

    def _providers(self, lang: str, providers: list[dict[str, object]]) -> pn.Column:
        owner = can(self.role, "settings.payment_keys")
        blocks = []
        for provider in providers:
            name = str(provider["provider"])
            editors = self._inputs(lang, name) if owner else []
            blocks.append(
                pn.Column(
                    f"#### {html.escape(name)}",
                    self._masked(lang, provider),
                    *editors,
                    css_classes=[f"payment-keys-{name}"],
                )
            )
        hint = t(lang, "payment_keys_hint" if owner else "payment_keys_owner_only")
        return pn.Column(pn.pane.Markdown(hint), *blocks)

    def __panel__(self) -> pn.viewable.Viewable:
        lang = self.lang
        return pn.Column(
            f"### {t(lang, 'payment_keys')}",
            pn.bind(self._providers, self.param.lang, self.state.param.providers),
            pn.bind(
                lambda m: pn.pane.HTML(
                    f'<p id="payment-keys-message">{html.escape(state_message(lang, m))}</p>'
                ),
                self.state.param.message,
            ),
            css_classes=["payment-keys"],
        )
