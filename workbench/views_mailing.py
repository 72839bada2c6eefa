"""The mailing page (F24): segment builder with a live count, composer, test, send."""

from __future__ import annotations

import html

import pandas as pd
import panel as pn
import param

from kippu_contract.v1.staff import MailingOut
from workbench.i18n import t
from workbench.mailing import PLACEHOLDER_HELP, MailingState
from workbench.views_common import PageBase, card, table


class MailingPage(PageBase):
    state = param.ClassSelector(class_=MailingState)
    page = "mailing"

    def _count(self, lang: str, count: int, sample: list[str]) -> pn.Column:
        keys = ", ".join(html.escape(k) for k in sample)
        return pn.Column(
            card(t(lang, "recipients"), f"{count:,}", "recipient-count"),
            pn.pane.HTML(f'<div>{t(lang, "sample")}: <code id="sample">{keys}</code></div>'),
        )

    def _campaigns(self, lang: str, campaigns: list[MailingOut]) -> pn.Column:
        cols = [
            "id",
            "status",
            "subject_ja",
            "recipients",
            "sent",
            "failed",
            "skipped",
            "created_at",
        ]
        frame = pd.DataFrame([{c: getattr(m, c) for c in cols} for m in campaigns], columns=cols)
        return pn.Column(f"### {t(lang, 'campaigns')}", table(frame))

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state.param
        lang = self.lang
        w = pn.widgets
        segment = pn.Column(
            f"### {t(lang, 'segment')}",
            w.Checkbox.from_param(s.everyone, label=t(lang, "everyone")),
            w.Checkbox.from_param(s.purchase_completed, label=t(lang, "purchase_completed")),
            pn.Row(
                w.DatePicker.from_param(s.purchased_from, label=t(lang, "purchased_from")),
                w.DatePicker.from_param(s.purchased_to, label=t(lang, "purchased_to")),
            ),
            pn.Row(
                w.IntInput.from_param(s.purchased_hour_from, label=t(lang, "hour_from")),
                w.IntInput.from_param(s.purchased_hour_to, label=t(lang, "hour_to")),
            ),
            w.DatePicker.from_param(s.visit_date, label=t(lang, "visit_date")),
            w.Select.from_param(s.product_id, label=t(lang, "product"), options=self._products()),
            w.Select.from_param(s.channel, label=t(lang, "channel")),
            w.RadioButtonGroup.from_param(s.checked_in, label=t(lang, "checked_in")),
            w.Checkbox.from_param(s.annual_pass, label=t(lang, "annual_pass")),
            w.RadioButtonGroup.from_param(s.kind, label=t(lang, "kind")),
            pn.bind(self._count, self.param.lang, s.count, s.sample),
        )
        test = w.Button(label=t(lang, "send_test"), css_classes=["send-test"])
        test.on_click(lambda _: self.state.send_test(self.lang))
        send = w.Button(label=t(lang, "send"), color="danger", css_classes=["send-mailing"])
        send.on_click(lambda _: self.state.send())
        compose = pn.Column(
            f"### {t(lang, 'compose')}",
            pn.pane.Markdown(
                f"{t(lang, 'marketing_note')}  \n{t(lang, 'placeholders')}: `{PLACEHOLDER_HELP}`"
            ),
            w.TextInput.from_param(
                s.subject_ja, label=t(lang, "subject_ja"), css_classes=["subject-ja"]
            ),
            w.TextAreaInput.from_param(
                s.body_ja, label=t(lang, "body_ja"), height=140, css_classes=["body-ja"]
            ),
            w.TextInput.from_param(
                s.subject_en, label=t(lang, "subject_en"), css_classes=["subject-en"]
            ),
            w.TextAreaInput.from_param(
                s.body_en, label=t(lang, "body_en"), height=140, css_classes=["body-en"]
            ),
            pn.Row(test, send),
            pn.bind(
                lambda m: pn.pane.HTML(f'<p id="mailing-message">{html.escape(m)}</p>'), s.message
            ),
        )
        return pn.Column(
            self.header(),
            pn.Row(segment, compose),
            pn.bind(self._campaigns, self.param.lang, s.campaigns),
            sizing_mode="stretch_width",
            max_width=1200,
        )

    def _products(self) -> dict[str, int | None]:
        names = self.state._source.product_names(self.state.facility_id)
        label = "name_ja" if self.lang == "ja" else "name_en"
        return {"—": None, **{str(r[label]): int(r["id"]) for _, r in names.iterrows()}}
