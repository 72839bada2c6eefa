"""The owner's billing page: statements listed from the core, PDF and CSV fetched through
the owner's token; the page renders for owners only."""

from __future__ import annotations

import asyncio
import datetime as dt

import panel as pn
from bokeh.document import Document

from core_service.billing.statements import Month, issue_month, set_plan
from core_service.models import Facility
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.web import run_in_session
from tests.support.workbench import core_api
from workbench.billing import BillingState
from workbench.core_client import StaffIdentity
from workbench.roles import can_open
from workbench.views_billing import BillingPage


def test_the_owner_lists_and_downloads_statements(sqlite_settings: Settings) -> None:
    demo = asyncio.run(seed_demo(sqlite_settings))

    async def bill(session: object) -> None:
        facility = await session.get(Facility, demo.facility_id)  # type: ignore[attr-defined]
        await set_plan(
            session,
            facility,
            plan="standard",
            monthly_fee=50_000,  # type: ignore[arg-type]
            valid_from=dt.date(2026, 1, 1),
            actor="test",
        )
        await issue_month(session, Month(2026, 11), prefix="KS")  # type: ignore[arg-type]

    asyncio.run(run_in_session(sqlite_settings, bill))
    with core_api(sqlite_settings, "owner") as core:
        state = BillingState(core)
        assert state.months() == ["2026-11"] and int(state.statements["total"][0]) == 55_000
        assert state.document("2026-11", "pdf").startswith(b"%PDF")
        assert "55000" in state.document("2026-11", "csv").decode("utf-8-sig")
        identity = StaffIdentity("t", "owner", "o@x", demo.facility_id, "p", "パーク", "Park")
        root = pn.panel(BillingPage(state=state, identity=identity, lang="en")).get_root(Document())
        labels = {getattr(m, "label", None) for m in root.references()}
        assert {"PDF", "CSV"} <= labels
    with core_api(sqlite_settings, "manager") as core:
        refused = BillingState(core)
        assert refused.statements is None and refused.message
    assert can_open("owner", "billing") and not can_open("manager", "billing")
