"""The workbench's vouchers page: created and switched off through the core's staff API
(never the database), listed with their uses and facility-local validity, refusals shown
with the core's message; in Japanese and English."""

from __future__ import annotations

import asyncio

from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.workbench import core_api, rendered_text
from workbench.core_client import StaffIdentity
from workbench.views_vouchers import VouchersPage
from workbench.vouchers import VouchersState


def test_a_manager_creates_lists_and_switches_off_a_voucher(sqlite_settings: Settings) -> None:
    demo = asyncio.run(seed_demo(sqlite_settings))
    with core_api(sqlite_settings, "manager") as core:
        state = VouchersState(core, timezone="Asia/Tokyo")
        assert state.vouchers is not None and state.vouchers.empty
        state.param.update(
            code="summer",
            kind="fixed",
            value=500,
            product_ids=f"{demo.day_ticket_id}",
            max_uses=100,
            valid_from="2026-07-01",
            valid_until="2026-08-31",
        )
        assert state.create(), state.message
        (row,) = state.vouchers.to_dict("records")
        assert (row["code"], row["kind"], row["value"], row["uses"]) == (
            "SUMMER",
            "fixed",
            500,
            "0 / 100",
        )
        assert row["valid"] == "2026-07-01 – 2026-08-31" and row["active"]
        assert state.code == ""  # the form is cleared for the next one
        assert state.set_active(row["id"], False)
        assert state.vouchers.to_dict("records")[0]["active"] is False
        state.code = "SUMMER"
        assert not state.create()  # the same code again: the core's 409
        assert state.message.startswith("409")
        identity = StaffIdentity(
            "t", "manager", "m@p", demo.facility_id, demo.slug, "パーク", "Park"
        )
        english = rendered_text(VouchersPage(state=state, identity=identity, lang="en"))
        assert "New voucher" in english and "SUMMER" in english and "Uses" in english
        japanese = rendered_text(VouchersPage(state=state, identity=identity, lang="ja"))
        assert "新しいクーポン" in japanese and "利用数" in japanese


def test_bad_product_ids_are_refused_before_the_core_is_asked(sqlite_settings: Settings) -> None:
    asyncio.run(seed_demo(sqlite_settings))
    with core_api(sqlite_settings, "manager") as core:
        state = VouchersState(core)
        state.param.update(code="X-1", product_ids="1, two")
        assert not state.create()
        assert "product ids" in state.message
        assert state.vouchers is not None and state.vouchers.empty


def test_a_role_the_core_refuses_sees_its_message_and_no_table(sqlite_settings: Settings) -> None:
    asyncio.run(seed_demo(sqlite_settings))
    with core_api(sqlite_settings, "staff") as core:
        state = VouchersState(core)
    assert state.vouchers is None and state.message.startswith("403")
