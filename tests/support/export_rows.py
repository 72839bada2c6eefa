"""Export files written straight to Parquet, row by row, for the workbench's cache tests.

No core: each test controls which versions land in which files (new files, newer and older
versions, scans exported twice, a file vanishing) and so what a refresh must pick up.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kippu_contract.export_schema import PARTITION_BY, TABLES

DAY = dt.date(2026, 11, 25)
JST = dt.timezone(dt.timedelta(hours=9))


def moment(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """``hour``:``minute`` Tokyo time on ``day``, in UTC."""
    return dt.datetime.combine(day, dt.time(hour, minute), JST).astimezone(dt.UTC)


class Exports:
    """Writes rows of export tables as Parquet files in the export layout."""

    _names = itertools.count(1)

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, table: str, rows: list[dict[str, Any]]) -> list[Path]:
        """One new file per partition the rows fall in; returns the files."""
        schema = TABLES[table].schema
        file_schema = pa.schema([f for f in schema if f.name not in PARTITION_BY])
        by_partition: dict[tuple[int, dt.date], list[dict[str, Any]]] = {}
        for row in rows:
            by_partition.setdefault((row["facility_id"], row["date"]), []).append(row)
        written = []
        for (facility_id, day), part in sorted(by_partition.items()):
            directory = self.root / table / f"facility_id={facility_id}" / f"date={day}"
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"run{next(self._names):05d}-1-0.parquet"
            data = pa.Table.from_pylist(
                [{n: r.get(n) for n in file_schema.names} for r in part], schema=file_schema
            )
            pq.write_table(data, path)
            written.append(path)
        return written

    def facility(self, facility_id: int) -> None:
        stamp = moment(DAY - dt.timedelta(days=30), 9)
        self.write(
            "facilities",
            [
                {
                    "facility_id": facility_id,
                    "date": DAY - dt.timedelta(days=30),
                    "id": facility_id,
                    "slug": f"f{facility_id}",
                    "name_ja": "園",
                    "name_en": "Park",
                    "timezone": "Asia/Tokyo",
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            ],
        )

    def ticket(
        self,
        facility_id: int,
        id: int,
        order_id: int,
        valid_from: dt.date,
        *,
        version: int = 0,
        kind: str = "day_admission",
        status: str = "valid",
        valid_until: dt.date | None = None,
    ) -> dict[str, Any]:
        return {
            "facility_id": facility_id,
            "date": valid_from,
            "id": id,
            "order_id": order_id,
            "product_id": 1 if kind != "coupon_book" else 2,
            "product_code": kind,
            "product_kind": kind,
            "price_category_code": "adult",
            "status": status,
            "valid_from": valid_from,
            "valid_until": valid_until or valid_from,
            "uses_total": 1,
            "uses_left": 1,
            "updated_at": moment(DAY - dt.timedelta(days=20), 9) + dt.timedelta(minutes=version),
        }

    def scan(
        self,
        facility_id: int,
        id: int,
        ticket_id: int | None,
        at: dt.datetime,
        *,
        direction: str = "entry",
        result: str = "admitted",
        gate: str = "North",
    ) -> dict[str, Any]:
        return {
            "facility_id": facility_id,
            "date": (at + dt.timedelta(hours=9)).date(),
            "id": id,
            "ticket_id": ticket_id,
            "device_id": 1,
            "gate_name": gate,
            "direction": direction,
            "result": result,
            "reason": "",
            "scanned_at": at,
        }

    def order(
        self,
        facility_id: int,
        id: int,
        customer: str,
        *,
        version: int = 0,
        status: str = "paid",
        channel: str = "web",
    ) -> dict[str, Any]:
        created = moment(DAY - dt.timedelta(days=3), 10)
        return {
            "facility_id": facility_id,
            "date": DAY - dt.timedelta(days=3),
            "id": id,
            "code": f"K{id}",
            "channel": channel,
            "status": status,
            "total": 2000,
            "customer_key": customer,
            "created_at": created,
            "paid_at": created if status == "paid" else None,
            "cancelled_at": None,
            "updated_at": created + dt.timedelta(minutes=version),
        }

    def line(
        self,
        facility_id: int,
        id: int,
        order_id: int,
        *,
        version: int = 0,
        product_id: int = 1,
        quantity: int = 1,
    ) -> dict[str, Any]:
        created = moment(DAY - dt.timedelta(days=3), 10)
        return {
            "facility_id": facility_id,
            "date": DAY - dt.timedelta(days=3),
            "id": id,
            "order_id": order_id,
            "product_id": product_id,
            "price_category_id": 1,
            "price_category_code": "adult",
            "visit_date": DAY,
            "slot": "",
            "quantity": quantity,
            "unit_price": 1000,
            "handling_fee": 0,
            "tax_rate": 10,
            "line_total": 1000 * quantity,
            "created_at": created,
            "updated_at": created + dt.timedelta(minutes=version),
        }

    def payment(
        self,
        facility_id: int,
        id: int,
        order_id: int,
        *,
        version: int = 0,
        method: str = "card",
        state: str = "paid",
    ) -> dict[str, Any]:
        created = moment(DAY - dt.timedelta(days=3), 10)
        return {
            "facility_id": facility_id,
            "date": DAY - dt.timedelta(days=3),
            "id": id,
            "order_id": order_id,
            "provider": "demo",
            "method": method,
            "state": state,
            "amount": 1000,
            "created_at": created,
            "updated_at": created + dt.timedelta(minutes=version),
        }

    def customer(self, facility_id: int, id: int, *, opt_in: bool = True) -> dict[str, Any]:
        stamp = moment(DAY - dt.timedelta(days=10), 9)
        return {
            "facility_id": facility_id,
            "date": DAY - dt.timedelta(days=10),
            "id": id,
            "customer_key": f"key{id}",
            "marketing_opt_in": opt_in,
            "first_purchase_at": stamp,
            "created_at": stamp,
            "updated_at": stamp,
        }
