"""Exports carry the voucher: its code and discount on order rows, each line's discount
on order line rows, and totals after the discount; the workbench's reader sees them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyarrow.dataset as ds

from core_service.exports import run_export
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.core.vouchers.test_voucher_orders import _checkout, _place
from tests.support.vouchers import add_voucher
from workbench.data_access import ExportSource


def _rows(settings: Settings, table: str) -> list[dict]:
    assert settings.export_dir is not None
    data = ds.dataset(Path(settings.export_dir) / table, format="parquet", partitioning="hive")
    return data.to_table().to_pylist()


def test_orders_and_lines_export_the_voucher_and_its_discount(db_settings: Settings) -> None:
    async def sell() -> int:
        demo = await seed_demo(db_settings)
        await add_voucher(db_settings, demo.facility_id)  # SPRING, 15%
        with_code = await _place(db_settings, demo, _checkout(demo, "SPRING", paid=4250))
        await _place(db_settings, demo, _checkout(demo, "", paid=5000))
        return with_code.id

    order_id = asyncio.run(sell())
    run_export(db_settings)
    orders = {r["id"]: r for r in _rows(db_settings, "orders")}
    assert [(r["voucher_code"], r["discount"], r["total"]) for r in orders.values()] == [
        ("SPRING", 750, 4250) if i == order_id else ("", 0, 5000) for i in orders
    ]
    lines = [r for r in _rows(db_settings, "order_lines") if r["order_id"] == order_id]
    assert sorted((r["discount"], r["line_total"]) for r in lines) == [(150, 850), (600, 3400)]
    assert db_settings.export_dir is not None
    source = ExportSource(db_settings.export_dir)
    read = source.sql("SELECT discount, total FROM orders WHERE voucher_code = 'SPRING'")
    assert (list(read["discount"]), list(read["total"])) == ([750], [4250])
