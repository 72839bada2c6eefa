"""Monthly system-fee statements (F26, issue 17.6): pro rata by the plans' days, issued
once and kept, shown as PDF and CSV to the facility's owner only."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pypdf
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from litestar.testing import AsyncTestClient

from core_service.billing.documents import statement_pdf
from core_service.billing.statements import Month, issue_month, set_plan
from core_service.demo.data import DemoFacility
from core_service.jobs.definitions import JOBS_BY_NAME
from core_service.jobs.resources import open_resources
from core_service.models import AuditLog, Facility, SystemFeeStatement, utcnow
from core_service.platform.errors import InvalidInput
from core_service.platform.settings import Settings
from kippu_cli.main import main
from tests.conftest import seed_demo
from tests.support.aftersales import staff_headers
from tests.support.web import query, run_in_session

NOVEMBER = Month(2026, 11)


async def _plan(settings: Settings, facility_id: int, *plans: tuple[str, int, dt.date]) -> None:
    async def work(session: Any) -> None:
        facility = await session.get(Facility, facility_id)
        for name, fee, start in plans:
            await set_plan(
                session, facility, plan=name, monthly_fee=fee, valid_from=start, actor="test"
            )

    await run_in_session(settings, work)


async def _issue(settings: Settings, month: Month = NOVEMBER) -> list[SystemFeeStatement]:
    async def work(session: Any) -> list[SystemFeeStatement]:
        return await issue_month(session, month, prefix="KS", actor="test")

    return await run_in_session(settings, work)


async def test_a_facility_going_live_mid_month_pays_its_days(
    demo: DemoFacility, db_settings: Settings
) -> None:
    await _plan(db_settings, demo.facility_id, ("standard", 50_000, dt.date(2026, 11, 16)))
    [statement] = await _issue(db_settings)
    # 15 of November's 30 days: 25,000 before tax, 2,500 tax.
    assert statement.lines == [
        {"plan": "standard", "monthly_fee": 50_000, "days": 15, "amount": 25_000}
    ]
    assert (statement.subtotal, statement.tax, statement.total) == (25_000, 2_500, 27_500)
    assert statement.number == f"KS-202611-{demo.facility_id:05d}"
    assert await _issue(db_settings, Month(2026, 10)) == []  # not live yet in October


async def test_a_change_of_plan_splits_the_month(demo: DemoFacility, db_settings: Settings) -> None:
    await _plan(
        db_settings,
        demo.facility_id,
        ("standard", 50_000, dt.date(2026, 1, 1)),
        ("premium", 80_000, dt.date(2026, 11, 10)),
    )
    [statement] = await _issue(db_settings)
    assert [(ln["plan"], ln["days"], ln["amount"]) for ln in statement.lines] == [
        ("standard", 9, 15_000),
        ("premium", 21, 56_000),
    ]
    assert statement.total == 71_000 + 7_100
    [december] = await _issue(db_settings, Month(2026, 12))
    assert december.lines[0]["plan"] == "premium" and december.subtotal == 80_000


async def test_issuing_again_keeps_the_statement_as_issued(
    demo: DemoFacility, db_settings: Settings
) -> None:
    await _plan(db_settings, demo.facility_id, ("standard", 50_000, dt.date(2026, 1, 1)))
    [first] = await _issue(db_settings)
    await _plan(db_settings, demo.facility_id, ("standard", 99_000, dt.date(2026, 1, 1)))
    [again] = await _issue(db_settings)
    assert (again.number, again.total) == (first.number, 55_000)
    assert len(await query(db_settings, sa.select(SystemFeeStatement.id))) == 1
    audited = await query(
        db_settings, sa.select(AuditLog.action).where(AuditLog.action.like("billing.%"))
    )
    assert sorted(a for (a,) in audited) == ["billing.plan", "billing.plan", "billing.statement"]


async def test_bad_plans_and_months_are_refused(demo: DemoFacility, db_settings: Settings) -> None:
    with pytest.raises(InvalidInput):
        await _plan(db_settings, demo.facility_id, ("standard", -1, dt.date(2026, 1, 1)))
    with pytest.raises(InvalidInput):
        Month.parse("2026-13")
    assert Month.before(dt.date(2026, 1, 1)) == Month(2025, 12)


def _pdf_text(body: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(body)).pages)


async def test_the_owner_sees_and_downloads_statements_and_nobody_else(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    await _plan(db_settings, demo.facility_id, ("standard", 50_000, dt.date(2026, 1, 1)))
    other = await seed_demo(db_settings, slug="other-park")
    await _plan(db_settings, other.facility_id, ("standard", 30_000, dt.date(2026, 1, 1)))
    await _issue(db_settings)
    owner = await staff_headers(client, demo, role="owner")
    listed = (await client.get("/api/v1/billing/statements", headers=owner)).json()
    assert [(s["month"], s["total"]) for s in listed] == [("2026-11", 55_000)]

    pdf = await client.get("/api/v1/billing/statements/2026-11/pdf", headers=owner)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = _pdf_text(pdf.content)
    assert "請 求 書" in text and "2026年11月分 システム利用料" in text
    assert "ご請求金額 ￥55,000" in text and "消費税 10% / Tax" in text and "￥5,000" in text
    assert "適格請求書" not in text  # the test platform has no registration number

    rows = list(
        csv.reader(
            io.StringIO(
                (
                    await client.get("/api/v1/billing/statements/2026-11/csv", headers=owner)
                ).content.decode("utf-8-sig")
            )
        )
    )
    assert rows[0][:4] == ["number", "month", "facility", "item"]
    assert rows[-1][3:] == ["total", "", "", "55000"]

    missing = await client.get("/api/v1/billing/statements/2026-10/pdf", headers=owner)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    bad = await client.get("/api/v1/billing/statements/november/pdf", headers=owner)
    assert bad.status_code == 422
    manager = await staff_headers(client, demo, role="manager")
    assert (await client.get("/api/v1/billing/statements", headers=manager)).status_code == 403


def test_a_registered_platform_issues_qualified_invoices() -> None:
    statement = SystemFeeStatement(
        facility_id=1,
        month="2026-11",
        number="KS-202611-00001",
        lines=[{"plan": "standard", "monthly_fee": 50_000, "days": 30, "amount": 50_000}],
        subtotal=50_000,
        tax_rate=10,
        tax=5_000,
        total=55_000,
        issued_at=utcnow(),
    )
    facility = Facility(name_ja="キップ・パーク", name_en="Kippu Park", slug="p")
    text = _pdf_text(
        statement_pdf(
            statement,
            facility,
            platform_name="キップ運営株式会社",
            registration_number="T7000012050002",
        )
    )
    assert "適格請求書" in text and "T7000012050002" in text and "キップ運営株式会社" in text
    plain = _pdf_text(
        statement_pdf(statement, facility, platform_name="x", registration_number="T1234567890123")
    )
    assert "適格請求書" not in plain and "T1234567890123" not in plain


async def test_the_job_issues_last_months_statements_once(
    demo: DemoFacility, db_settings: Settings
) -> None:
    await _plan(db_settings, demo.facility_id, ("standard", 50_000, dt.date(2020, 1, 1)))
    job = JOBS_BY_NAME["issue_statements"]
    async with open_resources(db_settings) as resources:
        assert await job.run(resources) == 1
        assert await job.run(resources) == 1  # found issued, not issued twice
    months = await query(db_settings, sa.select(SystemFeeStatement.month))
    assert months == [(str(Month.before(utcnow().date())),)]


def test_the_cli_sets_a_plan_and_issues(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    asyncio.run(seed_demo(sqlite_settings))
    monkeypatch.setenv("KIPPU_DATABASE_URL", sqlite_settings.database_url)
    monkeypatch.setenv("KIPPU_SECRET_KEY", sqlite_settings.secret_key)
    monkeypatch.setenv("KIPPU_VAR_DIR", str(sqlite_settings.var_dir))
    runner = CliRunner()
    planned = runner.invoke(
        main, ["billing", "plan", "kippu-adventure-park", "--from", "2026-11-01"]
    )
    assert planned.exit_code == 0, planned.output
    assert "standard 50,000 yen/month from 2026-11-01" in planned.output
    issued = runner.invoke(main, ["billing", "issue", "2026-11"])
    assert issued.exit_code == 0 and "2026-11 55,000 yen" in issued.output, issued.output
    unknown = runner.invoke(main, ["billing", "plan", "no-such-park", "--from", "2026-11-01"])
    assert unknown.exit_code != 0 and "No facility" in unknown.output
