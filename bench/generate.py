"""Synthetic exports of a facility, written straight to Parquet in the export layout.

DuckDB generates every table with ``range()`` and writes it with ``COPY ... PARTITION_BY
(facility_id, date)``, so ten million check-ins take seconds, not the hours that inserting
them through the core would. The columns and types are those of
``kippu_contract.export_schema.TABLES``, so :class:`workbench.data_access.ExportSource`
reads the result as it reads a real export. Several facilities share one export directory
(``facility_id``): each gets ids of its own, as the core's sequences give them.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb

from kippu_contract.export_schema import PARTITION_BY, TABLES

FACILITY_ID = 1
#: Facility ``n`` numbers its rows from ``(n - 1) * ID_STRIDE`` (products from ``10 * (n - 1)``).
ID_STRIDE = 10**9
PRODUCTS = [  # id, code, kind, name_ja, name_en, price
    (1, "day", "day_admission", "1日入園券", "Day ticket", 2000),
    (2, "pass", "annual_pass", "年間パスポート", "Annual pass", 12000),
    (3, "rides10", "coupon_book", "のりもの10回券", "10-ride coupon book", 3000),
]


def _copy(con: duckdb.DuckDBPyConnection, table: str, select: str, out: Path) -> None:
    """Write ``select`` as ``table`` with exactly the export schema's columns and types."""
    schema = TABLES[table].schema
    casts = []
    for f in schema:
        duck = {
            "int64": "BIGINT",
            "int32": "INTEGER",
            "string": "VARCHAR",
            "bool": "BOOLEAN",
            "date32[day]": "DATE",
            "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
        }[str(f.type)]
        casts.append(f'CAST("{f.name}" AS {duck}) AS "{f.name}"')
    target = out / table
    con.execute(
        f"COPY (SELECT {', '.join(casts)} FROM ({select})) TO '{target}' "
        f"(FORMAT parquet, PARTITION_BY ({', '.join(PARTITION_BY)}), OVERWRITE_OR_IGNORE, "
        f"FILENAME_PATTERN 'bench-{{i}}')"
    )


def generate(
    out: Path,
    *,
    orders: int,
    checkins: int,
    today: dt.date,
    days: int = 365,
    facility_id: int = FACILITY_ID,
) -> dict[str, int]:
    """Write every table under ``out``; returns rows per table.

    Orders spread evenly over ``days`` days ending ``today``, one line and one payment
    each, two tickets each (day tickets valid on the order's day, every 50th an annual
    pass); check-ins spread over the tickets (entry, rides, exit), ending today.

    A directory generated before with the same arguments (``KIPPU_BENCH_DIR``) is kept as
    it is: writing ten million check-ins again takes a minute and gives the same files.
    Each facility keeps its own marker, so facilities can be added to a directory later.
    """
    tickets = orders * 2
    counts = {
        "orders": orders,
        "order_lines": orders,
        "payments": orders,
        "tickets": tickets,
        "checkins": checkins,
        "customers": max(orders // 3, 1),
    }
    f = facility_id
    marker = out / ("_bench.json" if f == FACILITY_ID else f"_bench_{f}.json")
    arguments = {"orders": orders, "checkins": checkins, "today": str(today), "days": days}
    if marker.exists() and json.loads(marker.read_text(encoding="utf-8")) == arguments:
        return counts
    marker.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    first = today - dt.timedelta(days=days - 1)
    p = {"first": first, "days": days, "orders": orders}
    con.execute(
        "CREATE TEMP TABLE o AS SELECT range AS id, "
        "($first::DATE + CAST(range * $days // $orders AS INTEGER)) AS day, "
        "(($first::DATE + CAST(range * $days // $orders AS INTEGER))::TIMESTAMP "
        "  + INTERVAL 1 HOUR * (range % 10)) AT TIME ZONE 'UTC' AS created_at, "
        "CASE WHEN range % 3 = 0 THEN 'kiosk' ELSE 'web' END AS channel, "
        "CASE WHEN range % 33 = 0 THEN 'cancelled' ELSE 'paid' END AS status, "
        "CASE WHEN range % 50 = 0 THEN 2 WHEN range % 7 = 0 THEN 3 ELSE 1 END AS product_id "
        "FROM range($orders)",
        p,
    )
    b, pb = (f - 1) * ID_STRIDE, (f - 1) * 10  # row and product ids of this facility
    _copy(
        con,
        "facilities",
        f"SELECT {f} AS facility_id, $first AS date, {f} AS id, 'bench' AS slug, "
        f"'ベンチ{f}' AS name_ja, 'Bench' AS name_en, 'Asia/Tokyo' AS timezone, now() AS created_at, "
        "now() AS updated_at".replace("$first", f"DATE '{first}'"),
        out,
    )
    values = ", ".join(f"({i}, '{c}', '{k}', '{ja}', '{en}')" for i, c, k, ja, en, _ in PRODUCTS)
    _copy(
        con,
        "products",
        f"SELECT {f} AS facility_id, DATE '{first}' AS date, id + {pb} AS id, code, kind, "
        "name_ja, "
        "name_en, 10 AS tax_rate, 1 AS uses, true AS active, now() AS created_at, now() AS "
        "updated_at "
        f"FROM (VALUES {values}) AS v(id, code, kind, name_ja, name_en)",
        out,
    )
    customers = max(orders // 3, 1)
    _copy(
        con,
        "customers",
        f"SELECT {f} AS facility_id, DATE '{first}' AS date, range + {b} AS id, "
        "'c' || lpad(range::VARCHAR, 10, '0') AS customer_key, range % 2 = 0 AS marketing_opt_in, "
        f"TIMESTAMPTZ '{first} 00:00:00+00' AS first_purchase_at, TIMESTAMPTZ '{first} "
        "00:00:00+00' AS created_at, "
        f"TIMESTAMPTZ '{first} 00:00:00+00' AS updated_at FROM range({customers})",
        out,
    )
    price = "CASE product_id WHEN 2 THEN 12000 WHEN 3 THEN 3000 ELSE 2000 END"
    _copy(
        con,
        "orders",
        f"SELECT {f} AS facility_id, day AS date, id + {b} AS id, 'K' || id AS code, channel, "
        "status, "
        f"{price} AS total, 'c' || lpad((id % {customers})::VARCHAR, 10, '0') AS customer_key, "
        "created_at, created_at AS paid_at, NULL AS cancelled_at, created_at AS updated_at FROM o",
        out,
    )
    _copy(
        con,
        "order_lines",
        f"SELECT {f} AS facility_id, day AS date, id + {b} AS id, id + {b} AS order_id, "
        f"product_id + {pb} AS product_id, product_id AS price_category_id, 'adult' AS price_category_code, day AS visit_date, '' "
        "AS slot, "
        f"1 AS quantity, {price} AS unit_price, 0 AS handling_fee, 10 AS tax_rate, {price} AS "
        "line_total, "
        "created_at, created_at AS updated_at FROM o",
        out,
    )
    _copy(
        con,
        "payments",
        f"SELECT {f} AS facility_id, day AS date, id + {b} AS id, id + {b} AS order_id, "
        "'demo' AS provider, "
        "CASE id % 4 WHEN 0 THEN 'card' WHEN 1 THEN 'paypay' WHEN 2 THEN 'konbini' ELSE 'emoney' "
        "END AS method, "
        f"'paid' AS state, {price} AS amount, created_at, created_at AS updated_at FROM o",
        out,
    )
    # Two tickets per order: ids 2*o and 2*o+1.
    _copy(
        con,
        "tickets",
        f"SELECT {f} AS facility_id, o.day AS date, 2 * o.id + k + {b} AS id, "
        f"o.id + {b} AS order_id, {pb} + CASE o.product_id WHEN 2 THEN 2 ELSE 1 END AS product_id, "
        "CASE o.product_id WHEN 2 THEN 'pass' ELSE 'day' END AS product_code, "
        "CASE o.product_id WHEN 2 THEN 'annual_pass' ELSE 'day_admission' END AS product_kind, "
        "'adult' AS price_category_code, CASE WHEN o.status = 'cancelled' THEN 'cancelled' ELSE "
        "'valid' END "
        "AS status, o.day AS valid_from, CASE o.product_id WHEN 2 THEN o.day + 364 ELSE o.day END "
        "AS valid_until, "
        "1 AS uses_total, 0 AS uses_left, o.created_at AS updated_at "
        "FROM o, range(2) AS r(k)",
        out,
    )
    # Check-ins: scan i belongs to ticket (i % tickets); its day is that ticket's order day.
    con.execute(
        "CREATE TEMP TABLE k AS SELECT range AS id, range % $tickets AS ticket_id, range // "
        "$tickets AS nth "
        "FROM range($checkins)",
        {"tickets": tickets, "checkins": checkins},
    )
    _copy(
        con,
        "checkins",
        f"SELECT {f} AS facility_id, o.day AS date, k.id + {b} AS id, k.ticket_id + {b} AS "
        "ticket_id, "
        "1 + k.ticket_id % 4 AS device_id, 'Gate ' || (1 + k.ticket_id % 4) AS gate_name, "
        "CASE WHEN k.nth = 0 THEN 'entry' WHEN k.nth % 4 = 3 THEN 'exit' ELSE 'ride' END AS "
        "direction, "
        "'admitted' AS result, '' AS reason, "
        "o.created_at + INTERVAL 1 MINUTE * (30 + (k.id % 480)) AS scanned_at "
        "FROM k JOIN o ON o.id = k.ticket_id // 2",
        out,
    )
    con.close()
    marker.write_text(json.dumps(arguments), encoding="utf-8")
    return counts
