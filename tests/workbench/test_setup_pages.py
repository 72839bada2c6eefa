"""The workbench's set-up pages through the real core (issue 17.2, 17.3, 17.6): staff
accounts, devices and the audit log, as state classes, and their pages rendering."""

from __future__ import annotations

import asyncio

import panel as pn
from bokeh.document import Document

from core_service.demo.data import demo_staff_email
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.workbench import core_api
from workbench.audit import AuditState
from workbench.devices import DevicesState
from workbench.staff_admin import StaffAdminState
from workbench.views_setup import AuditPage, DevicesPage, StaffPage


def _classes(viewable: pn.viewable.Viewable) -> set[str]:
    root = pn.panel(viewable).get_root(Document())
    return {c for m in root.references() for c in (getattr(m, "css_classes", None) or [])}


def test_a_manager_adds_a_member_who_gets_a_one_time_password(sqlite_settings: Settings) -> None:
    asyncio.run(seed_demo(sqlite_settings))
    with core_api(sqlite_settings, "manager") as core:
        state = StaffAdminState(core, new_email="kana@park.example", new_role="viewer")
        assert state.add()
        assert len(state.one_time_password) >= 12
        assert "kana@park.example" in set(state.frame()["email"])
        state.member_id = state.choices()["kana@park.example (viewer)"]
        state.active = False
        assert state.save() and state.one_time_password == ""
        member = next(m for m in state.members if m.email == "kana@park.example")
        assert member.active is False


def test_the_core_s_refusal_becomes_the_message_and_nothing_changes(
    sqlite_settings: Settings,
) -> None:
    asyncio.run(seed_demo(sqlite_settings))
    with core_api(sqlite_settings, "manager") as core:
        state = StaffAdminState(core)
        state.member_id = state.choices()[f"{demo_staff_email('staff')} (staff)"]
        state.role = "manager"
        assert not state.save()
        assert state.message.startswith("403")
        assert state.new_role == "staff"
        again = StaffAdminState(core)
        assert {m.email: m.role for m in again.members}[demo_staff_email("staff")] == "staff"


def test_devices_are_created_limited_to_products_and_revoked(sqlite_settings: Settings) -> None:
    asyncio.run(seed_demo(sqlite_settings))
    with core_api(sqlite_settings, "manager") as core:
        state = DevicesState(core, products=lambda: {"Day pass (DAY)": 1, "Night (N)": 2})
        state.param.update(new_kind="kiosk", new_name="Lobby kiosk")
        assert state.create()
        assert state.enrolment_code  # shown once
        (new_id,) = [d.id for d in state.devices if d.name == "Lobby kiosk"]
        state.device_id = new_id
        state.product_ids = [2]
        assert state.save_products() and state.enrolment_code == ""
        row = state.frame().set_index("id").loc[new_id]
        assert row["products"] == "Night (N)" and not row["enrolled"]
        assert state.revoke()
        assert next(d for d in state.devices if d.id == new_id).revoked
        assert new_id not in state.choices().values()


def test_the_audit_page_pages_through_the_changes(sqlite_settings: Settings) -> None:
    asyncio.run(seed_demo(sqlite_settings))
    with core_api(sqlite_settings, "owner") as core:
        devices = DevicesState(core)
        for name in ("A", "B", "C"):
            devices.new_name = name
            assert devices.create()
        audit = AuditState(core, page_size=2)
        assert list(audit.entries["subject"]) == [
            f"device:{d.id}" for d in sorted(devices.devices, key=lambda d: -d.id)[:2]
        ]
        first = list(audit.entries["action"])
        audit.older()
        assert audit.before is not None and len(audit.entries) >= 1
        audit.newest()
        assert list(audit.entries["action"]) == first


def test_below_manager_the_states_stay_empty_with_the_refusal(sqlite_settings: Settings) -> None:
    asyncio.run(seed_demo(sqlite_settings))
    with core_api(sqlite_settings, "staff") as core:
        assert StaffAdminState(core).members == []
        assert AuditState(core).entries is None
        devices = DevicesState(core, new_name="X")
        assert devices.devices  # staff see device health
        assert not devices.create() and devices.message.startswith("403")


def test_the_pages_render_their_widgets_with_stable_classes(sqlite_settings: Settings) -> None:
    asyncio.run(seed_demo(sqlite_settings))
    with core_api(sqlite_settings, "owner") as core:
        staff = _classes(StaffPage(state=StaffAdminState(core), lang="en"))
        devices = _classes(DevicesPage(state=DevicesState(core), lang="ja"))
        audit = _classes(AuditPage(state=AuditState(core), lang="en"))
    assert {"staff-members", "staff-new-email", "staff-add", "staff-which", "staff-save"} <= staff
    assert {"device-list", "device-new-name", "device-create", "device-revoke"} <= devices
    assert {"device-products", "device-products-save"} <= devices
    assert {"audit-entries", "audit-older", "audit-newest"} <= audit
