"""Sales figures (F20): the core's report API and the workbench over the exports agree."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from core_service.exports import run_export
from core_service.models import Order
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.workbench import Builder, FacilityRef, at, core_api
from workbench.data_access import ExportSource
from workbench.sales import SalesState, core_rows, export_rows

DAY = dt.date(2026, 11, 20)


@dataclass
class Shop:
    settings: Settings
    facility_id: int
    expected_total: int


@pytest.fixture
def shop(db_settings: Settings) -> Iterator[Shop]:
    """Orders around DAY of every kind the report must tell apart.

    In range (DAY-1..DAY+1): web/card 2 x 2,000; kiosk/emoney 1 x 1,000 (child price) at
    23:30 Tokyo, which is the previous day in UTC; web konbini that failed once then paid
    (3 x 2,000); a free staff order without any payment (1 x 200). Out: a cancelled order,
    a pending order, an order paid on DAY+2 and one paid on DAY-2 at 23:59 Tokyo.
    """
    demo = asyncio.run(seed_demo(db_settings))
    b = Builder(db_settings)
    park = FacilityRef(demo.facility_id)
    day_ticket = b.product(park)  # type: ignore[arg-type]
    coupon = b.product(park, "coupon_book")  # type: ignore[arg-type]
    t1 = b.order(park, day_ticket, DAY, 2)  # type: ignore[arg-type]
    b.pay(t1[0], "card", 4000)
    t2 = b.order(park, coupon, DAY, 1, created_at=at(DAY, 23, 30), channel="kiosk", unit_price=800)  # type: ignore[arg-type]
    b.pay(t2[0], "emoney", 1000)
    t3 = b.order(park, day_ticket, DAY - dt.timedelta(days=1), 3)  # type: ignore[arg-type]
    b.pay(t3[0], "card", 6000, state="failed")
    b.pay(t3[0], "konbini", 6000)
    b.order(park, day_ticket, DAY + dt.timedelta(days=1), 1, channel="staff", unit_price=0)  # type: ignore[arg-type]
    cancelled = b.order(park, day_ticket, DAY, 5)  # type: ignore[arg-type]
    b.pay(cancelled[0], "card", 10000)
    b.execute(sa.update(Order).where(Order.id == cancelled[0].order_id).values(status="cancelled"))
    pending = b.order(park, day_ticket, DAY, 4)  # type: ignore[arg-type]
    b.execute(
        sa.update(Order)
        .where(Order.id == pending[0].order_id)
        .values(status="pending", paid_at=None)
    )
    b.order(park, day_ticket, DAY + dt.timedelta(days=2), 7)  # type: ignore[arg-type]
    b.order(park, day_ticket, DAY, 9, created_at=at(DAY - dt.timedelta(days=2), 23, 59))  # type: ignore[arg-type]
    b.close()
    run_export(db_settings)
    yield Shop(db_settings, demo.facility_id, 4000 + 1000 + 6000 + 200)


def _state(shop: Shop, **params: object) -> SalesState:
    assert shop.settings.export_dir is not None
    return SalesState(
        ExportSource(shop.settings.export_dir),
        facility_id=shop.facility_id,
        date_from=DAY - dt.timedelta(days=1),
        date_to=DAY + dt.timedelta(days=1),
        **params,
    )


def test_core_report_counts_paid_orders_by_local_payment_day(shop: Shop) -> None:
    with core_api(shop.settings, "manager") as core:
        report = core.sales_report(DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1))
    assert report.total_amount == shop.expected_total
    by_method: dict[str, int] = {}
    for row in report.rows:
        by_method[row.method] = by_method.get(row.method, 0) + row.amount
    assert by_method == {"card": 4000, "emoney": 1000, "konbini": 6000, "none": 200}
    kiosk = [r for r in report.rows if r.channel == "kiosk"]
    assert [r.day for r in kiosk] == [DAY]


def test_workbench_sales_equal_the_core_report_to_the_yen(shop: Shop) -> None:
    with core_api(shop.settings, "manager") as core:
        state = _state(shop)
        report = core.sales_report(state.date_from, state.date_to)
        assert export_rows(state.lines) == core_rows(report)
        assert state.total_amount == report.total_amount == shop.expected_total
        assert _state(shop, core=core).check_core() is True


def test_sales_breakdowns_sum_to_the_total(shop: Shop) -> None:
    state = _state(shop)
    for by in ("day", "channel", "method", "product"):
        assert int(state.breakdown(by)["amount"].sum()) == shop.expected_total, by
    assert set(state.breakdown("channel")["channel"]) == {"web", "kiosk", "staff"}


def test_sales_downloads_as_csv_and_xlsx(shop: Shop) -> None:
    state = _state(shop)
    csv = state.csv_bytes().decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("day,channel,method,product_id,quantity,amount")
    assert "konbini" in csv
    pytest.importorskip("xlsxwriter", reason="XLSX downloads need xlsxwriter (pyproject)")
    assert state.xlsx_bytes()[:2] == b"PK"


def test_sales_range_must_be_ordered(shop: Shop) -> None:
    with core_api(shop.settings, "manager") as core, pytest.raises(Exception, match="422"):
        core.sales_report(DAY, DAY - dt.timedelta(days=1))
    state = _state(shop)
    state.date_to = DAY - dt.timedelta(days=5)
    assert state.error == "range" and state.total_amount == 0
