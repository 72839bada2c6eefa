"""The workbench's catalogue page (issue 17) against the real core: a manager fills the
product form (slots, closed dates and weekdays, sale window in the facility's time),
saves it, adds and changes prices and sets capacities; refusals are shown with the form
kept; the view renders every widget under its stable CSS class."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from core_service.demo.data import DemoFacility
from core_service.models import Capacity, PriceCategory, Product
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.web import query
from tests.support.workbench import core_api
from workbench.catalog import CatalogState
from workbench.core_client import CoreAPI, StaffIdentity


@pytest.fixture
def park(db_settings: Settings) -> Iterator[tuple[Settings, DemoFacility]]:
    yield db_settings, asyncio.run(seed_demo(db_settings))


def _fill_timed(state: CatalogState) -> None:
    state.new_product()
    state.param.update(
        code="night-zip",
        kind="timed_admission",
        name_ja="ナイトジップ",
        name_en="Night zip line",
        channels=["web"],
        max_per_order=4,
        sale_starts_at=dt.datetime(2030, 4, 1, 10, 0),
        closed_weekdays=[1, 2],
    )
    for label, places in (("18:00", 10), ("19:00", None)):
        state.param.update(slot_label=label, slot_capacity=places)
        assert state.add_slot()
    for day in (dt.date(2030, 5, 5), dt.date(2030, 5, 3), dt.date(2030, 5, 5)):
        state.closed_date = day
        state.add_closed_date()


def test_a_manager_sets_a_timed_product_up_with_prices_and_capacities(
    park: tuple[Settings, DemoFacility],
) -> None:
    settings, demo = park
    with core_api(settings, "manager") as core:
        state = CatalogState(core, lang="en", timezone="Asia/Tokyo")
        assert {p.code for p in state.products} >= {"day", "zipline", "parking"}
        _fill_timed(state)
        assert state.slots == [
            {"label": "18:00", "capacity": 10},
            {"label": "19:00", "capacity": None},
        ]
        assert state.closed_dates == [dt.date(2030, 5, 3), dt.date(2030, 5, 5)]
        assert state.save(), state.message
        assert state.message == "Product night-zip created. Now add its price categories."
        saved = state.product()
        assert saved is not None and state.product_id == saved.id
        assert saved.sale_starts_at == dt.datetime(2030, 4, 1, 1, 0, tzinfo=dt.UTC)
        assert (saved.closed_weekdays, saved.channels) == ([1, 2], ["web"])
        state.param.update(
            price_code="adult", price_name_ja="大人", price_name_en="Adult", price_amount=1500
        )
        assert state.save_price(), state.message
        assert [(c.code, c.price) for c in state.prices] == [("adult", 1500)]
        assert state.edit_price(state.prices[0].id)
        state.price_amount = 1600
        assert state.save_price() and [c.price for c in state.prices] == [1600]
        state.param.update(
            capacity_from=dt.date(2030, 6, 1),
            capacity_to=dt.date(2030, 6, 2),
            capacity_slot="19:00",
            capacity_value=25,
        )
        assert state.set_capacity(), state.message
        assert state.capacities is not None
        rows = state.capacities.to_dict("records")
        # The answer shows every slot of the range: the one set, and the other's default.
        assert [(r["date"], r["slot"], r["capacity"], r["explicit"]) for r in rows] == [
            ("2030-06-01", "18:00", 10, False),
            ("2030-06-01", "19:00", 25, True),
            ("2030-06-02", "18:00", 10, False),
            ("2030-06-02", "19:00", 25, True),
        ]
        state.capacity_from = dt.date(2030, 6, 2)
        assert state.load_capacities()
        assert len(state.capacities) == 2
    stored = asyncio.run(
        query(
            settings,
            sa.select(Product.slots, Product.closed_dates).where(Product.code == "night-zip"),
        )
    )
    assert stored == [
        (
            [{"label": "18:00", "capacity": 10}, {"label": "19:00", "capacity": None}],
            ["2030-05-03", "2030-05-05"],
        )
    ]
    prices = asyncio.run(
        query(
            settings,
            sa.select(PriceCategory.price).where(
                PriceCategory.code == "adult", PriceCategory.product_id == saved.id
            ),
        )
    )
    capacities = asyncio.run(
        query(
            settings,
            sa.select(Capacity.slot, Capacity.capacity).where(Capacity.product_id == saved.id),
        )
    )
    assert prices == [(1600,)] and sorted(capacities) == [("19:00", 25), ("19:00", 25)]


def test_a_refusal_is_shown_and_the_form_keeps_what_was_typed(
    park: tuple[Settings, DemoFacility],
) -> None:
    settings, _ = park
    with core_api(settings, "manager") as core:
        state = CatalogState(core, lang="en")
        state.new_product()
        state.param.update(code="timed", kind="timed_admission", name_ja="時間券", name_en="Timed")
        assert state.save() is False
        assert "at least one time slot" in state.message
        assert (state.product_id, state.code, state.name_en) == (None, "timed", "Timed")
        assert state.save_price() is False and state.message == "Save the product first."
        state.param.update(kind="addon", code="locker")
        assert (
            "day" in state.param.addon_for.objects
            and "parking" not in state.param.addon_for.objects
        )
        state.addon_for = ["day"]
        assert state.save(), state.message
    assert asyncio.run(
        query(settings, sa.select(Product.addon_for).where(Product.code == "locker"))
    ) == [(["day"],)]


def test_editing_a_product_replaces_it_and_deactivates_it(
    park: tuple[Settings, DemoFacility],
) -> None:
    settings, demo = park
    with core_api(settings, "manager") as core:
        state = CatalogState(core, lang="en")
        assert state.select(demo.day_ticket_id)
        assert (state.code, state.daily_capacity, [c.code for c in state.prices]) == (
            "day",
            500,
            ["adult", "child"],
        )
        state.param.update(active=False, name_en="Day pass")
        assert state.save() and state.message == "Product day saved."
        assert state.edit_price(demo.child_category_id)
        assert state.delete_price(demo.child_category_id)
        assert [c.code for c in state.prices] == ["adult"]
    assert asyncio.run(
        query(
            settings,
            sa.select(Product.active, Product.name_en).where(Product.id == demo.day_ticket_id),
        )
    ) == [(False, "Day pass")]


def test_staff_see_the_products_but_their_changes_are_refused(
    park: tuple[Settings, DemoFacility],
) -> None:
    settings, demo = park
    with core_api(settings, "staff") as core:
        state = CatalogState(core, lang="en")
        assert state.select(demo.day_ticket_id)
        state.name_en = "Hacked"
        assert state.save() is False and "403" in state.message
    assert asyncio.run(
        query(settings, sa.select(Product.name_en).where(Product.id == demo.day_ticket_id))
    ) == [("Day ticket",)]


def test_the_page_renders_every_widget_under_its_stable_css_class(
    park: tuple[Settings, DemoFacility],
) -> None:
    import panel as pn
    from bokeh.document import Document

    from workbench.views_catalog import CatalogPage

    settings, demo = park
    with core_api(settings, "manager") as core:
        state = CatalogState(core, lang="en")
        identity = StaffIdentity(
            "t", "manager", "m@x", demo.facility_id, demo.slug, "パーク", "Park"
        )
        root = pn.panel(CatalogPage(state=state, identity=identity, lang="en")).get_root(Document())
    classes = {c for m in root.references() for c in (getattr(m, "css_classes", None) or [])}
    expected = {
        "catalog-products",
        "catalog-product-select",
        "catalog-new",
        "catalog-product-code",
        "catalog-product-kind",
        "catalog-product-name-ja",
        "catalog-product-name-en",
        "catalog-product-daily-capacity",
        "catalog-product-channels",
        "catalog-slot-label",
        "catalog-slot-capacity",
        "catalog-slot-add",
        "catalog-closed-date",
        "catalog-closed-date-add",
        "catalog-closed-dates",
        "catalog-closed-weekdays",
        "catalog-product-sale-starts-at",
        "catalog-product-save",
        "catalog-price-code",
        "catalog-price-name-ja",
        "catalog-price-name-en",
        "catalog-price-amount",
        "catalog-price-save",
        "catalog-capacity-from",
        "catalog-capacity-to",
        "catalog-capacity-slot",
        "catalog-capacity-value",
        "catalog-capacity-set",
    }
    assert expected <= classes, sorted(expected - classes)
    texts = " ".join(str(getattr(m, "text", "")) for m in root.references())
    assert "catalog-message" in texts and "nav-catalog" not in texts  # the current page is bold


def test_a_core_that_cannot_be_reached_is_a_message_not_a_traceback() -> None:
    state = CatalogState(CoreAPI.connect("http://127.0.0.1:9", "t", timeout=1), lang="en")
    assert state.products == [] and state.message


def test_the_choosers_start_on_a_new_one_and_load_what_is_chosen(
    park: tuple[Settings, DemoFacility],
) -> None:
    """A Select always shows one option (and the browser sends it back): the empty form
    is an option of its own, so opening the page never loads a product unasked."""
    import panel as pn

    from workbench.views_catalog import NEW, CatalogPage

    settings, demo = park
    with core_api(settings, "manager") as core:
        state = CatalogState(core, lang="en")
        identity = StaffIdentity(
            "t", "manager", "m@x", demo.facility_id, demo.slug, "パーク", "Park"
        )
        layout = CatalogPage(state=state, identity=identity, lang="en").__panel__()

        def chooser(css: str) -> pn.widgets.Select:
            (found,) = [
                w for w in layout.select(pn.widgets.Select) if f"catalog-{css}" in w.css_classes
            ]
            return found

        products, prices = chooser("product-select"), chooser("price-select")
        assert (products.value, prices.value, state.product_id) == (NEW, NEW, None)
        products.value = demo.day_ticket_id
        assert (state.code, prices.value) == ("day", NEW)
        assert list(prices.options.values()) == [
            NEW,
            demo.adult_category_id,
            demo.child_category_id,
        ]
        prices.value = demo.child_category_id
        assert (state.price_code, state.price_amount) == ("child", 1000)
        prices.value = NEW
        assert (state.price_id, state.price_code) == (None, "")
        products.value = NEW
        assert (state.product_id, state.code) == (None, "")
        state.select(demo.timed_ticket_id)  # the state moves the chooser too
        assert products.value == demo.timed_ticket_id
