"""Exported contents, exactly: every column's type and value and every row's partition.

The expected values are read back through the ORM (typed, one object per row), a path
independent of the exporter's columnar one, and the partition dates are computed with
``zoneinfo``. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import operator
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from core_service.exports import TABLES, run_export
from core_service.models import (
    Cancellation,
    CheckIn,
    Customer,
    Device,
    Facility,
    Order,
    OrderLine,
    Payment,
    PriceCategory,
    Product,
    Refund,
    Ticket,
)
from core_service.platform.settings import Settings
from kippu_contract.export_schema import PARTITION_BY
from tests.support.workbench import Builder, at

DAY = dt.date(2026, 3, 7)  # the day before New York's change to summer time

MODELS: dict[str, type[Any]] = {
    "facilities": Facility,
    "products": Product,
    "customers": Customer,
    "orders": Order,
    "order_lines": OrderLine,
    "tickets": Ticket,
    "checkins": CheckIn,
    "payments": Payment,
    "refunds": Refund,
    "devices": Device,
}
#: Column whose local date is the partition ``date`` (see docs/exports.md, per table).
DATED_BY = {"tickets": "valid_from", "checkins": "scanned_at", "devices": "updated_at"}


@pytest.fixture
def settings(db_settings: Settings) -> Settings:
    return db_settings


@pytest.fixture
def builder(settings: Settings) -> Iterator[Builder]:
    b = Builder(settings)
    try:
        yield b
    finally:
        b.close()


def _populate(b: Builder) -> None:
    """Two facilities in different zones, every table, nulls and edge-of-day times."""
    for slug, zone in (("park", "Asia/Tokyo"), ("nyc", "America/New_York")):
        park = b.facility(slug, tz=zone)
        day, annual = b.product(park), b.product(park, "annual_pass")
        customer = b.customer(park, email=f"{slug}@example.jp")
        gate = b.gate(park, "南ゲート")
        tickets = b.order(park, day, DAY, quantity=2, customer=customer, created_at=at(DAY, 23, 59))
        (pass_ticket,) = b.order(park, annual, DAY + dt.timedelta(days=1), channel="kiosk")
        b.scan(tickets[0], at(DAY, 10), gate)
        b.scan(tickets[1], at(DAY + dt.timedelta(days=1), 0, 1), result="not_valid_today")
        # A whole second, so the state's isoformat has no fraction for this row.
        b.scan(pass_ticket, dt.datetime(2026, 3, 8, 6, 59, 59, tzinfo=dt.UTC), gate)
        payment = b.pay(tickets[0], "card", 4000)
        b.pay(pass_ticket, "paypay", 9000, state="pending")
        cancellation = b.add(
            Cancellation(
                facility_id=park.id,
                order_id=tickets[0].order_id,
                actor="staff:1",
                reason="都合",
                refund_amount=1800,
                idempotency_key=f"cancel-{slug}",
            )
        )
        b.add(
            Refund(
                facility_id=park.id,
                order_id=tickets[0].order_id,
                cancellation_id=cancellation.id,
                payment_id=payment.id,
                provider="demo",
                method="card",
                amount=1800,
                idempotency_key=f"refund-{slug}",
                refunded_at=dt.datetime(2026, 3, 8, 1, 0, tzinfo=dt.UTC),
            )
        )
        kiosk = b.add(Device(facility_id=park.id, kind="kiosk", name="券売機1"))
        b.execute(
            sa.update(Device)
            .where(Device.id == kiosk.id)
            .values(
                status={"paper": "残りわずか", "errors": [1, None]},
                last_seen_at=dt.datetime.now(dt.UTC),
                revoked_at=dt.datetime.now(dt.UTC),
            )
        )
        b.execute(sa.update(Product).where(Product.id == annual[0].id).values(active=False, uses=1))


def _orm_rows(settings: Settings) -> dict[type[Any], dict[int, Any]]:
    async def load() -> dict[type[Any], dict[int, Any]]:
        engine = create_async_engine(settings.database_url, poolclass=NullPool)
        try:
            async with AsyncSession(engine) as session:
                models = [*MODELS.values(), PriceCategory]
                return {
                    m: {o.id: o for o in (await session.scalars(sa.select(m))).all()}
                    for m in models
                }
        finally:
            await engine.dispose()

    return asyncio.run(load())


def _expected_value(table: str, column: str, obj: Any, orm: dict[type[Any], dict[int, Any]]) -> Any:
    joined: dict[tuple[str, str], Callable[[], Any]] = {
        ("facilities", "facility_id"): lambda: obj.id,
        ("customers", "customer_key"): lambda: obj.pseudonym,
        ("orders", "customer_key"): lambda: (
            orm[Customer][obj.customer_id].pseudonym if obj.customer_id else None
        ),
        ("order_lines", "price_category_code"): lambda: (
            orm[PriceCategory][obj.price_category_id].code
        ),
        ("tickets", "product_code"): lambda: orm[Product][obj.product_id].code,
        ("tickets", "product_kind"): lambda: orm[Product][obj.product_id].kind,
        ("tickets", "price_category_code"): lambda: orm[PriceCategory][obj.price_category_id].code,
        ("checkins", "gate_name"): lambda: (
            orm[Device][obj.device_id].name if obj.device_id else None
        ),
        ("devices", "revoked"): lambda: obj.revoked_at is not None,
        ("devices", "status_json"): lambda: json.dumps(obj.status, ensure_ascii=False),
    }
    if (table, column) in joined:
        return joined[table, column]()
    if column == "date":
        value = getattr(obj, DATED_BY.get(table, "created_at"))
        if isinstance(value, dt.datetime):
            facility = orm[Facility][obj.id if table == "facilities" else obj.facility_id]
            return value.astimezone(ZoneInfo(facility.timezone)).date()
        return value
    return getattr(obj, column)


def _exported(export_dir: Path, table: str) -> list[dict[str, Any]]:
    """Every row of ``table``, partition keys taken from the directory names."""
    rows = []
    for path in sorted((export_dir / table).rglob("*.parquet")):
        keys = dict(part.split("=", 1) for part in path.relative_to(export_dir / table).parts[:2])
        for row in pq.read_table(path).to_pylist():
            row["facility_id"] = int(keys["facility_id"])
            row["date"] = dt.date.fromisoformat(keys["date"])
            rows.append(row)
    return rows


def test_every_column_of_every_table_has_its_database_value_and_partition(
    settings: Settings, builder: Builder
) -> None:
    _populate(builder)

    report = run_export(settings)

    assert settings.export_dir is not None
    orm = _orm_rows(settings)
    for table, model in MODELS.items():
        exported = _exported(Path(settings.export_dir), table)
        expected = [
            {c: _expected_value(table, c, obj, orm) for c in TABLES[table].schema.names}
            for obj in orm[model].values()
        ]
        assert report.rows[table] == len(expected) > 0, table
        by_id = operator.itemgetter("id")
        assert sorted(exported, key=by_id) == sorted(expected, key=by_id), table


def test_parquet_files_carry_the_schemas_types(settings: Settings, builder: Builder) -> None:
    _populate(builder)

    run_export(settings)

    assert settings.export_dir is not None
    for table in TABLES.values():
        files = sorted(Path(settings.export_dir, table.name).rglob("*.parquet"))
        expected = pa.schema([table.schema.field(c) for c in table.file_columns])
        assert files, table.name
        for path in files:
            assert pq.read_schema(path).remove_metadata() == expected, path


def test_check_ins_near_midnight_land_on_the_facilitys_local_day(
    settings: Settings, builder: Builder
) -> None:
    _populate(builder)

    run_export(settings)

    assert settings.export_dir is not None
    by_facility: dict[int, list[str]] = {}
    for row in _exported(Path(settings.export_dir), "checkins"):
        by_facility.setdefault(row["facility_id"], []).append(str(row["date"]))
    tokyo, new_york = sorted(by_facility)
    # Tokyo: 10:00 and 00:01 the next day; 06:59:59 UTC is 15:59:59 on the 8th.
    assert sorted(by_facility[tokyo]) == ["2026-03-07", "2026-03-08", "2026-03-08"]
    # New York (UTC-5): the same instants are 20:00 and 10:01 on the 6th, 01:59:59 on the 8th.
    assert sorted(by_facility[new_york]) == ["2026-03-06", "2026-03-07", "2026-03-08"]


def test_small_batches_write_the_same_rows_as_one_batch(
    settings: Settings, builder: Builder, tmp_path: Path
) -> None:
    _populate(builder)
    small = Settings(
        database_url=settings.database_url,
        var_dir=settings.var_dir,
        export_dir=tmp_path / "small-batches",
    )

    whole = run_export(settings)
    batched = run_export(small, batch_size=2)

    assert settings.export_dir is not None and small.export_dir is not None
    assert batched.rows == whole.rows
    assert batched.files > whole.files
    for table in TABLES:
        assert sorted(_exported(Path(small.export_dir), table), key=repr) == sorted(
            _exported(Path(settings.export_dir), table), key=repr
        ), table


def test_partition_keys_are_not_stored_in_the_files(settings: Settings, builder: Builder) -> None:
    _populate(builder)

    run_export(settings)

    assert settings.export_dir is not None
    for path in Path(settings.export_dir).rglob("*.parquet"):
        assert not set(PARTITION_BY) & set(pq.read_schema(path).names), path
