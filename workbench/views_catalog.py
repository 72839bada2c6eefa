"""The catalogue page (商品 / Catalogue, managers): the products, a form for one product
with its time slots, closed days and sale window, its price categories, and its
capacities for a date range (state: :mod:`workbench.catalog`).

Every widget has a stable CSS class ``catalog-...`` (listed in docs/workbench.md), so
browser tests and walks of a facility's set-up find them by name.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
from collections.abc import Callable
from typing import Any

import panel as pn
import param

from workbench.catalog import CatalogState, products_frame
from workbench.i18n import t
from workbench.views_common import PageBase, table, yen

WEEKDAY_NAMES = {
    "ja": ["月", "火", "水", "木", "金", "土", "日"],
    "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
}


#: The choosers' option for "a new one" (ids start at 1).
NEW = 0


def _css(name: str) -> list[str]:
    return [f"catalog-{name}"]


class CatalogPage(PageBase):
    state = param.ClassSelector(class_=CatalogState)
    page = "catalog"

    # --- pieces -----------------------------------------------------------------------------

    def _field(
        self, widget: type[pn.widgets.Widget], name: str, prefix: str = "product-", **kwargs: Any
    ) -> Any:
        """The widget of the state's parameter ``name``, labelled by it and with the CSS
        class ``catalog-<prefix><name>`` (``_`` written ``-``)."""
        return widget.from_param(
            self.state.param[name],
            label=t(self.lang, f"catalog_{name}"),
            css_classes=_css(prefix + name.replace("_", "-")),
            **kwargs,
        )

    def _row_select(
        self,
        label: str,
        css: str,
        options: Callable[[], dict[str, int]],
        rows: str,
        chosen_id: str,
        *,
        on_new: Callable[[], None],
        on_pick: Callable[[int], None],
    ) -> pn.widgets.Select:
        """A Select of the state's ``rows`` that follows (and sets) ``chosen_id``.

        NEW stands for the empty form: a Select always shows (and the browser sends back)
        one of its options, so "nothing chosen" must be an option of its own."""
        s = self.state
        select = pn.widgets.Select(
            label=t(self.lang, label),
            options=options(),
            value=getattr(s, chosen_id) or NEW,
            css_classes=_css(css),
        )

        def picked(event: param.parameterized.Event) -> None:
            current = getattr(s, chosen_id)
            if event.new == NEW:
                if current is not None:
                    on_new()
            elif event.new != current:
                on_pick(int(event.new))

        select.param.watch(picked, "value")
        s.param.watch(
            lambda _: select.param.update(options=options(), value=getattr(s, chosen_id) or NEW),
            rows,
        )
        s.param.watch(lambda e: setattr(select, "value", e.new or NEW), chosen_id)
        return select

    def _chooser(self) -> pn.Row:
        s = self.state

        def options() -> dict[str, int]:
            return {
                t(self.lang, "catalog_new_option"): NEW,
                **{
                    f"{p.code} · {p.name_ja if self.lang == 'ja' else p.name_en}": p.id
                    for p in s.products
                },
            }

        choose = self._row_select(
            "catalog_choose",
            "product-select",
            options,
            "products",
            "product_id",
            on_new=s.new_product,
            on_pick=s.select,
        )
        new = pn.widgets.Button(label=t(self.lang, "catalog_new"), css_classes=_css("new"))
        new.on_click(lambda _: s.new_product())
        return pn.Row(choose, new)

    def _slots(self) -> pn.Column:
        s = self.state
        label = self._field(pn.widgets.TextInput, "slot_label", "", placeholder="10:00")
        capacity = self._field(pn.widgets.IntInput, "slot_capacity", "", start=0)
        add = pn.widgets.Button(
            label=t(self.lang, "catalog_slot_add"), css_classes=_css("slot-add")
        )
        add.on_click(lambda _: s.add_slot())
        labels = [str(x["label"]) for x in s.slots]
        remove_which = pn.widgets.Select(
            label=t(self.lang, "catalog_slot_remove"),
            options=labels,
            css_classes=_css("slot-remove"),
        )
        remove = pn.widgets.Button(
            label=t(self.lang, "catalog_slot_remove"), css_classes=_css("slot-remove-button")
        )
        remove.on_click(lambda _: remove_which.value and s.remove_slot(remove_which.value))
        s.param.watch(
            lambda e: setattr(remove_which, "options", [str(x["label"]) for x in e.new]), "slots"
        )

        def listed(slots: list[dict[str, Any]]) -> pn.pane.HTML:
            items = "".join(
                f"<li>{html.escape(str(x['label']))} · "
                f"{'∞' if x.get('capacity') is None else x['capacity']}</li>"
                for x in slots
            )
            return pn.pane.HTML(f'<ul class="catalog-slots">{items}</ul>')

        return pn.Column(
            f"#### {t(self.lang, 'catalog_slots')}",
            pn.bind(listed, s.param.slots),
            pn.Row(label, capacity, add),
            pn.Row(remove_which, remove),
        )

    def _closed_days(self) -> pn.Column:
        s = self.state
        pick = self._field(pn.widgets.DatePicker, "closed_date", "")
        add = pn.widgets.Button(
            label=t(self.lang, "catalog_closed_date_add"), css_classes=_css("closed-date-add")
        )
        add.on_click(lambda _: s.add_closed_date())
        isos = [d.isoformat() for d in s.closed_dates]
        chosen = pn.widgets.MultiChoice(
            label=t(self.lang, "catalog_closed_dates"),
            options=isos,
            value=isos,
            css_classes=_css("closed-dates"),
        )

        def shown(event: param.parameterized.Event) -> None:
            values = [d.isoformat() for d in event.new]
            chosen.param.update(options=values, value=values)

        s.param.watch(shown, "closed_dates")
        chosen.param.watch(
            lambda e: (
                s.param.update(closed_dates=[dt.date.fromisoformat(v) for v in e.new])
                if len(e.new) < len(s.closed_dates)
                else None
            ),
            "value",
        )
        weekdays = pn.widgets.CheckBoxGroup.from_param(
            s.param.closed_weekdays,
            options=dict(zip(WEEKDAY_NAMES[self.lang], range(7), strict=True)),
            css_classes=_css("closed-weekdays"),
            inline=True,
        )
        return pn.Column(
            f"#### {t(self.lang, 'catalog_closed')}",
            pn.Row(pick, add),
            chosen,
            pn.pane.Markdown(t(self.lang, "catalog_closed_weekdays")),
            weekdays,
        )

    def _product_form(self) -> pn.Column:
        f, s = self._field, self.state
        save = pn.widgets.Button(
            label=t(self.lang, "catalog_save"),
            color="primary",
            css_classes=_css("product-save"),
        )
        save.on_click(lambda _: s.save())
        return pn.Column(
            f"### {t(self.lang, 'catalog_product')}",
            pn.Row(f(pn.widgets.TextInput, "code"), f(pn.widgets.Select, "kind")),
            pn.Row(f(pn.widgets.TextInput, "name_ja"), f(pn.widgets.TextInput, "name_en")),
            pn.Row(
                f(pn.widgets.TextAreaInput, "description_ja", height=70),
                f(pn.widgets.TextAreaInput, "description_en", height=70),
            ),
            pn.Row(
                f(pn.widgets.Select, "tax_rate"),
                f(pn.widgets.IntInput, "uses", start=1),
                f(pn.widgets.IntInput, "daily_capacity", start=0),
                f(pn.widgets.IntInput, "max_per_order", start=1),
            ),
            pn.pane.Markdown(t(self.lang, "catalog_channels")),
            f(pn.widgets.CheckBoxGroup, "channels", inline=True),
            pn.Row(
                f(pn.widgets.Checkbox, "requires_date"),
                f(pn.widgets.Checkbox, "active"),
                f(pn.widgets.Checkbox, "holder_required"),
                f(pn.widgets.Checkbox, "coupon_tear_off"),
            ),
            pn.Row(
                f(pn.widgets.IntInput, "validity_days", start=1),
                f(pn.widgets.Select, "validity_start"),
                f(pn.widgets.IntInput, "sort_order"),
            ),
            pn.Row(
                f(pn.widgets.DatetimePicker, "sale_starts_at"),
                f(pn.widgets.DatetimePicker, "sale_ends_at"),
            ),
            f(pn.widgets.MultiChoice, "addon_for"),
            pn.pane.Markdown(f"#### {t(self.lang, 'catalog_gate_rules')}"),
            pn.Row(
                f(pn.widgets.Checkbox, "reentry_after_exit"),
                f(pn.widgets.Checkbox, "rides_use_ticket"),
                f(pn.widgets.IntInput, "slot_grace_minutes", start=0),
            ),
            pn.pane.Markdown(f"#### {t(self.lang, 'catalog_stay')}"),
            pn.Row(
                f(pn.widgets.IntInput, "stay_unit_minutes", start=1),
                f(pn.widgets.IntInput, "stay_unit_price", start=0),
                f(pn.widgets.IntInput, "stay_daily_cap", start=0),
                f(pn.widgets.IntInput, "stay_free_minutes", start=0),
            ),
            self._slots(),
            self._closed_days(),
            save,
        )

    def _prices(self) -> pn.Column:
        s = self.state

        def listed(prices: list[Any]) -> pn.pane.HTML:
            rows = "".join(
                f'<tr class="catalog-price-row"><td>{html.escape(c.code)}</td>'
                f"<td>{html.escape(c.name_ja)}</td><td>{html.escape(c.name_en)}</td>"
                f"<td>{yen(c.price)}</td><td>{yen(c.handling_fee)}</td>"
                f"<td>{'✓' if c.in_use else ''}</td></tr>"
                for c in prices
            )
            head = "".join(
                f"<th>{html.escape(t(self.lang, k))}</th>"
                for k in (
                    "catalog_price_code",
                    "catalog_price_name_ja",
                    "catalog_price_name_en",
                    "catalog_price_amount",
                    "catalog_price_fee",
                    "catalog_price_in_use",
                )
            )
            return pn.pane.HTML(f'<table class="catalog-prices"><tr>{head}</tr>{rows}</table>')

        def choices() -> dict[str, int]:
            return {
                t(self.lang, "catalog_price_new_option"): NEW,
                **{c.code: c.id for c in s.prices},
            }

        edit = self._row_select(
            "catalog_price_choose",
            "price-select",
            choices,
            "prices",
            "price_id",
            on_new=s.new_price,
            on_pick=s.edit_price,
        )

        field = functools.partial(self._field, prefix="")
        new = pn.widgets.Button(
            label=t(self.lang, "catalog_price_new"), css_classes=_css("price-new")
        )
        new.on_click(lambda _: s.new_price())
        save = pn.widgets.Button(
            label=t(self.lang, "catalog_price_save"),
            color="primary",
            css_classes=_css("price-save"),
        )
        save.on_click(lambda _: s.save_price())
        delete = pn.widgets.Button(
            label=t(self.lang, "catalog_price_delete"),
            color="danger",
            css_classes=_css("price-delete"),
        )
        delete.on_click(lambda _: s.price_id is not None and s.delete_price(s.price_id))
        return pn.Column(
            f"### {t(self.lang, 'catalog_prices')}",
            pn.bind(listed, s.param.prices),
            pn.Row(edit, new),
            pn.Row(
                field(pn.widgets.TextInput, "price_code"),
                field(pn.widgets.TextInput, "price_name_ja"),
                field(pn.widgets.TextInput, "price_name_en"),
            ),
            pn.Row(
                field(pn.widgets.IntInput, "price_amount", start=0),
                field(pn.widgets.IntInput, "price_fee", start=0),
                field(pn.widgets.IntInput, "price_sort"),
            ),
            pn.Row(save, delete),
        )

    def _capacities(self) -> pn.Column:
        s = self.state

        def slots() -> dict[str, str]:
            found = s.product()
            labels = [x.label for x in found.slots] if found else []
            return {t(self.lang, "catalog_capacity_all"): "", **{x: x for x in labels}}

        slot = pn.widgets.Select(
            label=t(self.lang, "catalog_capacity_slot"),
            options=slots(),
            value="",
            css_classes=_css("capacity-slot"),
        )
        slot.param.watch(lambda e: setattr(s, "capacity_slot", e.new or ""), "value")
        s.param.watch(
            lambda _: slot.param.update(options=slots(), value=""), ["product_id", "products"]
        )

        field = functools.partial(self._field, prefix="")
        show = pn.widgets.Button(
            label=t(self.lang, "catalog_capacity_show"), css_classes=_css("capacity-show")
        )
        show.on_click(lambda _: s.load_capacities())
        apply = pn.widgets.Button(
            label=t(self.lang, "catalog_capacity_set"),
            color="primary",
            css_classes=_css("capacity-set"),
        )
        apply.on_click(lambda _: s.set_capacity())
        return pn.Column(
            f"### {t(self.lang, 'catalog_capacities')}",
            pn.Row(
                field(pn.widgets.DatePicker, "capacity_from"),
                field(pn.widgets.DatePicker, "capacity_to"),
                slot,
                field(pn.widgets.IntInput, "capacity_value", start=0),
            ),
            pn.Row(show, apply),
            pn.bind(lambda frame: table(frame, css_classes=_css("capacities")), s.param.capacities),
        )

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state
        s.lang = self.lang
        self.param.watch(lambda event: setattr(s, "lang", event.new), "lang")
        return pn.Column(
            self.header(),
            pn.bind(
                lambda m: pn.pane.HTML(f'<p id="catalog-message">{html.escape(m)}</p>'),
                s.param.message,
            ),
            pn.bind(
                lambda products, lang: table(
                    products_frame(products, lang), css_classes=_css("products")
                ),
                s.param.products,
                self.param.lang,
            ),
            self._chooser(),
            self._product_form(),
            self._prices(),
            self._capacities(),
            sizing_mode="stretch_width",
            max_width=1100,
        )
