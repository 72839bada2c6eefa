"""Workbench page states without a browser: attendance breakdowns, operations, settings."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import panel as pn
from bokeh.document import Document

from core_service.exports import run_export
from core_service.platform.settings import Settings
from kippu_plugins.consent import DEFAULT_LABEL_EN
from tests.conftest import seed_demo
from tests.support.workbench import SECRET_EMAIL, Builder, FacilityRef, at, core_api
from tests.workbench.test_workbench import DAY, Scenario, scenario  # noqa: F401 - the shared fixture
from workbench import core_client
from workbench.attendance import AttendanceState
from workbench.data_access import ExportSource
from workbench.facility_settings import SettingsState
from workbench.operations import OperationsState
from workbench.views_admin import OperationsPage, SettingsPage


def test_in_park_is_entries_minus_exits(scenario: Scenario) -> None:  # noqa: F811
    state = AttendanceState(scenario.source(), facility_id=scenario.north.id, date=DAY)
    # Entries: a (twice), b, the pass; one exit of a.
    assert state.in_park == 3 and state.admitted == 3


def test_admissions_by_gate_and_product_add_up_to_admitted(scenario: Scenario) -> None:  # noqa: F811
    state = AttendanceState(scenario.source(), facility_id=scenario.north.id, date=DAY)
    assert state.by_gate.to_dict("records") == [
        {"key": "正門", "label_ja": "正門", "label_en": "正門", "admissions": 3}
    ]
    by_product = dict(zip(state.by_product["key"], state.by_product["admissions"], strict=True))
    assert sorted(by_product.values()) == [1, 2] and sum(by_product.values()) == state.admitted


def test_same_weekday_last_week_is_compared(scenario: Scenario) -> None:  # noqa: F811
    b = scenario.builder
    week_ago = DAY - dt.timedelta(days=7)
    for ticket in b.order(scenario.north, b.product(scenario.north), week_ago, quantity=2):
        b.scan(ticket, at(week_ago, 15))
    # Back-dated scans are behind the check-in watermark: export afresh into a new dir.
    fresh = dataclasses.replace(scenario.settings, export_dir=scenario.settings.var_dir / "fresh")
    run_export(fresh)
    assert fresh.export_dir is not None
    state = AttendanceState(ExportSource(fresh.export_dir), facility_id=scenario.north.id, date=DAY)
    assert state.last_week_admitted == 2
    assert int(state.last_week_per_hour.set_index("hour").loc[15, "admissions"]) == 2


def test_attendance_page_shows_in_park_and_last_week(scenario: Scenario) -> None:  # noqa: F811
    from workbench.app import AttendancePage

    identity = core_client.StaffIdentity("t", "viewer", "v@n", 1, "north", "北パーク", "North")
    state = AttendanceState(scenario.source(), facility_id=scenario.north.id, date=DAY)
    root = pn.panel(AttendancePage(state=state, identity=identity, lang="en")).get_root(Document())
    text = " ".join(str(getattr(m, "text", "")) for m in root.references())
    assert "In the park now" in text and "Same weekday last week" in text
    assert "nav-mailing" not in text and "nav-operations" in text  # viewer: no mailing


def _park(settings: Settings) -> int:
    demo = asyncio.run(seed_demo(settings))
    b = Builder(settings)
    park = FacilityRef(demo.facility_id)
    b.order(park, b.product(park), DAY, customer=b.customer(park))  # type: ignore[arg-type]
    b.close()
    return demo.facility_id


def test_operations_lists_devices_and_finds_orders_by_email(sqlite_settings: Settings) -> None:
    _park(sqlite_settings)
    with core_api(sqlite_settings, "staff") as core:
        state = OperationsState(core, query=SECRET_EMAIL)
        assert set(state.devices["kind"]) == {"kiosk", "gate"}
        state.lookup()
        assert len(state.orders) == 1 and state.orders[0].customer_email == SECRET_EMAIL
        state.query = "x"
        state.lookup()
        assert state.message == "query too short"
        root = pn.panel(OperationsPage(state=state, lang="ja")).get_root(Document())
        assert root is not None


def test_settings_round_trip_through_the_core(sqlite_settings: Settings) -> None:
    _park(sqlite_settings)
    with core_api(sqlite_settings, "manager") as core:
        state = SettingsState(core)
        assert state.loaded and "card" in state.kiosk_methods
        assert "consent" in state.plugins and state.plugins["consent"]["enabled"]
        state.kiosk_methods = ["card"]
        state.self_cancel = True
        state.set_plugin_option("consent", "text_ja", "同意します")
        assert state.save(), state.message
        again = SettingsState(core)
        assert again.kiosk_methods == ["card"] and again.self_cancel
        assert again.plugins["consent"]["options"]["text_ja"] == "同意します"
        assert again.plugins["consent"]["options"]["label_en"] == DEFAULT_LABEL_EN
        pn.panel(SettingsPage(state=again, lang="en")).get_root(Document())


def test_plugin_options_are_widgets_of_their_kind_and_the_core_checks_them(
    sqlite_settings: Settings,
) -> None:
    _park(sqlite_settings)
    with core_api(sqlite_settings, "manager") as core:
        state = SettingsState(core)
        root = pn.panel(SettingsPage(state=state, lang="en")).get_root(Document())
        widgets = {
            c: type(m).__name__
            for m in root.references()
            for c in (getattr(m, "css_classes", None) or [])
            if c.startswith("plugin-option-availability-")
        }
        assert widgets == {
            "plugin-option-availability-few_left_ratio": "Spinner",
            "plugin-option-availability-few_left_count": "Spinner",
        }
        assert not any("TextAreaInput" in type(m).__name__ for m in root.references())
        state.set_plugin_option("availability", "few_left_count", -1)
        assert not state.save()
        assert "few_left_count" in state.message
        assert (
            SettingsState(core).option_value(
                "availability", state.plugins["availability"]["fields"][1]
            )
            == 10
        )


def test_a_mistyped_registration_number_is_refused_and_the_old_one_kept(
    sqlite_settings: Settings,
) -> None:
    _park(sqlite_settings)
    with core_api(sqlite_settings, "owner") as core:
        state = SettingsState(core)
        before = state.tax_registration_number
        assert before.startswith("T")
        state.tax_registration_number = "T1234567890123"
        assert not state.save() and state.message
        assert SettingsState(core).tax_registration_number == before
        state.tax_registration_number = "T7000012050002"
        assert state.save(), state.message
        assert SettingsState(core).tax_registration_number == "T7000012050002"


def test_settings_refuse_unknown_payment_methods(sqlite_settings: Settings) -> None:
    _park(sqlite_settings)
    with core_api(sqlite_settings, "owner") as core:
        state = SettingsState(core)
        state.param.web_methods.objects = [*state.param.web_methods.objects, "bitcoin"]
        state.web_methods = ["bitcoin"]
        assert not state.save() and "422" in state.message


def test_cancellation_fee_tiers_are_edited_as_rows_and_checked_by_the_core(
    sqlite_settings: Settings,
) -> None:
    _park(sqlite_settings)
    with core_api(sqlite_settings, "manager") as core:
        state = SettingsState(core)
        state.add_fee_tier()
        state.add_fee_tier()
        state.set_fee_tier(0, "days_before", 3)
        state.set_fee_tier(0, "percent", 30)
        state.set_fee_tier(1, "fixed", 500)
        state.self_cancel_until_days = 2
        assert state.save(), state.message
        again = SettingsState(core)
        assert again.fee_tiers == [
            {"days_before": 3, "percent": 30, "fixed": 0},
            {"days_before": 0, "percent": 0, "fixed": 500},
        ]
        assert again.self_cancel_until_days == 2
        root = pn.panel(SettingsPage(state=again, lang="ja")).get_root(Document())
        classes = [c for m in root.references() for c in (getattr(m, "css_classes", None) or [])]
        assert classes.count("fee-tier-days-before") == 2 and "fee-tier-add" in classes
        again.set_fee_tier(1, "days_before", 3)  # two tiers from the same day
        assert not again.save() and "2" in again.message
        again.remove_fee_tier(1)
        assert again.save(), again.message
        assert len(SettingsState(core).fee_tiers) == 1
