"""The export schema: tables, columns and Parquet types, shared by writer and readers.

This module imports only pyarrow so that readers (``workbench.data_access``, notebooks)
can use it without loading the core's models. ``docs/exports.md`` documents the same
schema for people; bump :data:`SCHEMA_VERSION` whenever a column changes meaning, is
removed or renamed (adding a column is backwards compatible and needs no bump).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

SCHEMA_VERSION = 1

#: Every table is hive-partitioned by these keys: ``<table>/facility_id=1/date=2026-11-25/``.
PARTITION_BY = ("facility_id", "date")

_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True, slots=True)
class ExportTable:
    """One exported table: its columns and what its partition date means."""

    name: str
    #: Column that orders changes: ``updated_at``, or ``scanned_at`` for append-only scans.
    watermark_column: str
    #: What the ``date`` partition key is, for the docs and the manifest.
    date_meaning: str
    #: Columns stored in the Parquet files, partition keys included (DuckDB moves them
    #: into the directory names when writing).
    schema: pa.Schema

    @property
    def file_columns(self) -> list[str]:
        return [n for n in self.schema.names if n not in PARTITION_BY]


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    keys: list[tuple[str, pa.DataType]] = [("facility_id", pa.int64()), ("date", pa.date32())]
    return pa.schema(keys + list(fields))


TABLES: dict[str, ExportTable] = {
    t.name: t
    for t in (
        ExportTable(
            "facilities",
            "updated_at",
            "facility created (facility time zone)",
            _schema(
                ("id", pa.int64()),
                ("slug", pa.string()),
                ("name_ja", pa.string()),
                ("name_en", pa.string()),
                ("timezone", pa.string()),
                ("created_at", _TS),
                ("updated_at", _TS),
            ),
        ),
        ExportTable(
            "products",
            "updated_at",
            "product created (facility time zone)",
            _schema(
                ("id", pa.int64()),
                ("code", pa.string()),
                ("kind", pa.string()),
                ("name_ja", pa.string()),
                ("name_en", pa.string()),
                ("tax_rate", pa.int32()),
                ("uses", pa.int32()),
                ("active", pa.bool_()),
                ("created_at", _TS),
                ("updated_at", _TS),
            ),
        ),
        ExportTable(
            "customers",
            "updated_at",
            "customer created (facility time zone)",
            _schema(
                ("id", pa.int64()),
                # The pseudonym only: never e-mail, name or phone (see docs/exports.md).
                ("customer_key", pa.string()),
                ("marketing_opt_in", pa.bool_()),
                ("first_purchase_at", _TS),
                ("created_at", _TS),
                ("updated_at", _TS),
            ),
        ),
        ExportTable(
            "orders",
            "updated_at",
            "order created (facility time zone)",
            _schema(
                ("id", pa.int64()),
                ("code", pa.string()),
                ("channel", pa.string()),
                ("status", pa.string()),
                ("total", pa.int64()),
                ("voucher_code", pa.string()),
                ("discount", pa.int64()),
                ("customer_key", pa.string()),
                ("created_at", _TS),
                ("paid_at", _TS),
                ("cancelled_at", _TS),
                ("updated_at", _TS),
            ),
        ),
        ExportTable(
            "order_lines",
            "updated_at",
            "order line created (facility time zone)",
            _schema(
                ("id", pa.int64()),
                ("order_id", pa.int64()),
                ("product_id", pa.int64()),
                ("price_category_id", pa.int64()),
                ("price_category_code", pa.string()),
                ("visit_date", pa.date32()),
                ("slot", pa.string()),
                ("quantity", pa.int32()),
                ("unit_price", pa.int64()),
                ("handling_fee", pa.int64()),
                ("tax_rate", pa.int32()),
                ("line_total", pa.int64()),
                ("discount", pa.int64()),
                ("created_at", _TS),
                ("updated_at", _TS),
            ),
        ),
        ExportTable(
            "tickets",
            "updated_at",
            "ticket valid_from",
            _schema(
                ("id", pa.int64()),
                ("order_id", pa.int64()),
                ("product_id", pa.int64()),
                ("product_code", pa.string()),
                ("product_kind", pa.string()),
                ("price_category_code", pa.string()),
                ("status", pa.string()),
                ("valid_from", pa.date32()),
                ("valid_until", pa.date32()),
                ("uses_total", pa.int32()),
                ("uses_left", pa.int32()),
                ("updated_at", _TS),
            ),
        ),
        ExportTable(
            "checkins",
            "scanned_at",
            "scan time (facility time zone)",
            _schema(
                ("id", pa.int64()),
                ("ticket_id", pa.int64()),
                ("device_id", pa.int64()),
                ("gate_name", pa.string()),
                ("direction", pa.string()),
                ("result", pa.string()),
                ("reason", pa.string()),
                ("scanned_at", _TS),
            ),
        ),
        ExportTable(
            "payments",
            "updated_at",
            "payment created (facility time zone)",
            _schema(
                ("id", pa.int64()),
                ("order_id", pa.int64()),
                ("provider", pa.string()),
                ("method", pa.string()),
                ("state", pa.string()),
                ("amount", pa.int64()),
                ("created_at", _TS),
                ("updated_at", _TS),
            ),
        ),
        ExportTable(
            "refunds",
            "updated_at",
            "refund created (facility time zone)",
            _schema(
                ("id", pa.int64()),
                ("order_id", pa.int64()),
                ("cancellation_id", pa.int64()),
                ("payment_id", pa.int64()),
                ("provider", pa.string()),
                ("method", pa.string()),
                ("state", pa.string()),
                ("amount", pa.int64()),
                ("attempts", pa.int32()),
                ("created_at", _TS),
                ("refunded_at", _TS),
                ("updated_at", _TS),
            ),
        ),
        ExportTable(
            "devices",
            "updated_at",
            "last change of the device, e.g. its last heartbeat (facility time zone)",
            _schema(
                ("id", pa.int64()),
                ("kind", pa.string()),
                ("name", pa.string()),
                ("revoked", pa.bool_()),
                ("last_seen_at", _TS),
                # The heartbeat as the device reported it (printer, paper, terminal), JSON.
                ("status_json", pa.string()),
                ("updated_at", _TS),
            ),
        ),
    )
}


def manifest() -> dict[str, object]:
    """The machine-readable schema written as ``_manifest.json`` in the export dir."""
    return {
        "schema_version": SCHEMA_VERSION,
        "partition_by": list(PARTITION_BY),
        "tables": {
            t.name: {
                "watermark_column": t.watermark_column,
                "date": t.date_meaning,
                "columns": [{"name": f.name, "type": str(f.type)} for f in t.schema],
            }
            for t in TABLES.values()
        },
    }
