"""The ``refunds`` export: one row per refund, a new version per state change, no PII."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import sqlalchemy as sa

from core_service.exports import run_export
from core_service.models import Cancellation, Refund
from core_service.platform.settings import Settings
from tests.support.workbench import Builder
from workbench.data_access import ExportSource

DAY = dt.date(2026, 11, 25)
REASON = "山田花子さんの急病のため"
KEY = "refund-key-4c1b9e"
PROVIDER_ERROR = "card declined for hanako@example.jp"


def test_a_cancellations_refund_is_exported_once_and_keeps_its_newest_state(
    sqlite_settings: Settings,
) -> None:
    b = Builder(sqlite_settings)
    park = b.facility("park")
    (ticket,) = b.order(park, b.product(park), DAY)
    payment = b.pay(ticket, "card", 2000)
    cancellation = b.add(
        Cancellation(
            facility_id=park.id,
            order_id=ticket.order_id,
            actor="visitor:1",
            self_service=True,
            reason=REASON,
            ticket_ids=[ticket.id],
            base_total=2000,
            fee=200,
            refund_amount=1800,
            idempotency_key="cancel-1",
        )
    )
    refund = b.add(
        Refund(
            facility_id=park.id,
            order_id=ticket.order_id,
            cancellation_id=cancellation.id,
            payment_id=payment.id,
            provider="demo",
            method="card",
            amount=1800,
            idempotency_key=KEY,
            last_error=PROVIDER_ERROR,
        )
    )
    first = run_export(sqlite_settings)
    b.execute(
        sa.update(Refund)
        .where(Refund.id == refund.id)
        .values(state="refunded", attempts=1, refunded_at=dt.datetime.now(dt.UTC))
    )
    second = run_export(sqlite_settings)
    b.close()

    assert (first.rows["refunds"], second.rows["refunds"]) == (1, 1)
    assert sqlite_settings.export_dir is not None
    source = ExportSource(sqlite_settings.export_dir)
    log = source.sql("SELECT state FROM refunds_log ORDER BY updated_at")
    assert log["state"].tolist() == ["pending", "refunded"]
    (row,) = source.sql("SELECT * FROM refunds").to_dict("records")
    assert row["id"] == refund.id
    assert row["facility_id"] == park.id
    assert row["order_id"] == ticket.order_id
    assert row["cancellation_id"] == cancellation.id
    assert row["payment_id"] == payment.id
    assert (row["provider"], row["method"], row["state"]) == ("demo", "card", "refunded")
    assert (row["amount"], row["attempts"]) == (1800, 1)
    assert row["refunded_at"] is not None
    # Partitioned like payments: by the local day the refund was created.
    created = row["created_at"].to_pydatetime().astimezone(ZoneInfo("Asia/Tokyo"))
    assert str(row["date"])[:10] == created.date().isoformat()


def test_refunds_export_carries_no_reason_key_or_provider_error(sqlite_settings: Settings) -> None:
    b = Builder(sqlite_settings)
    park = b.facility("park")
    (ticket,) = b.order(park, b.product(park), DAY)
    cancellation = b.add(
        Cancellation(
            facility_id=park.id,
            order_id=ticket.order_id,
            actor="staff:1",
            reason=REASON,
            refund_amount=1000,
            idempotency_key="cancel-2",
        )
    )
    b.add(
        Refund(
            facility_id=park.id,
            order_id=ticket.order_id,
            cancellation_id=cancellation.id,
            provider="demo",
            amount=1000,
            state="failed",
            provider_ref="re_secret_ref",
            idempotency_key=KEY,
            last_error=PROVIDER_ERROR,
        )
    )
    run_export(sqlite_settings)
    b.close()

    assert sqlite_settings.export_dir is not None
    files = list(Path(sqlite_settings.export_dir, "refunds").rglob("*.parquet"))
    assert files
    text = " ".join(str(duckdb.sql(f"SELECT * FROM '{f}'").fetchall()) for f in files)
    for secret in (REASON, KEY, PROVIDER_ERROR, "re_secret_ref"):
        assert secret not in text
