"""Exports added for the workbench: payments (sales by method) and device health."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import sqlalchemy as sa

from core_service.exports import run_export
from core_service.models import Device, Payment
from core_service.platform.settings import Settings
from tests.workbench_helpers import Builder
from workbench.data_access import ExportSource

DAY = dt.date(2026, 11, 25)


def test_payments_are_exported_with_method_and_each_state_change(sqlite_settings: Settings) -> None:
    b = Builder(sqlite_settings)
    park = b.facility("park")
    (ticket,) = b.order(park, b.product(park), DAY)
    payment = b.pay(ticket, "konbini", 2000, state="pending")
    run_export(sqlite_settings)
    b.execute(sa.update(Payment).where(Payment.id == payment.id).values(state="paid"))
    run_export(sqlite_settings)
    b.close()
    assert sqlite_settings.export_dir is not None
    source = ExportSource(sqlite_settings.export_dir)
    assert source.sql("SELECT state FROM payments_log ORDER BY updated_at")["state"].tolist() == [
        "pending",
        "paid",
    ]
    assert source.sql("SELECT method, state, amount FROM payments").to_dict("records") == [
        {"method": "konbini", "state": "paid", "amount": 2000}
    ]


def test_device_heartbeats_are_exported_without_tokens(sqlite_settings: Settings) -> None:
    b = Builder(sqlite_settings)
    park = b.facility("park")
    kiosk = b.add(Device(facility_id=park.id, kind="kiosk", name="券売機1", token_hash="f" * 64))
    b.execute(
        sa.update(Device)
        .where(Device.id == kiosk.id)
        .values(status={"paper": "low", "printer": "ok"}, last_seen_at=dt.datetime.now(dt.UTC))
    )
    run_export(sqlite_settings)
    b.close()
    assert sqlite_settings.export_dir is not None
    source = ExportSource(sqlite_settings.export_dir)
    (row,) = source.sql("SELECT * FROM devices").to_dict("records")
    assert json.loads(row["status_json"]) == {"paper": "low", "printer": "ok"}
    assert row["kind"] == "kiosk" and not row["revoked"]
    files = list(Path(sqlite_settings.export_dir, "devices").rglob("*.parquet"))
    text = " ".join(str(duckdb.sql(f"SELECT * FROM '{f}'").fetchall()) for f in files)
    assert "f" * 64 not in text
