"""Workbench benchmark: page refresh queries, export throughput, scan-to-dashboard latency.

The workbench reads exports only; the exports are written by the core (its background
export, or ``kippu export``), so the export and scan benchmarks drive the core's exporter.

Run with ``python -m bench`` (not part of the test suite). Sizes come from the environment,
so a quick run is ``KIPPU_BENCH_CHECKINS=1000000 KIPPU_BENCH_ORDERS=100000 python -m bench``:

- ``KIPPU_BENCH_CHECKINS`` (10,000,000) and ``KIPPU_BENCH_ORDERS`` (1,000,000): the
  synthetic exports of one facility (``bench.generate``);
- ``KIPPU_BENCH_REPEATS`` (20): refreshes measured per page (after one warm-up);
- ``KIPPU_BENCH_EXPORT_ROWS`` (200,000): check-ins in the database the exporter copies;
- ``KIPPU_BENCH_EXPORT_ROUNDS`` (3): timed runs of each export side (medians reported);
- ``KIPPU_BENCH_DIR``: where to write (default: a temporary directory, removed after);
- ``KIPPU_BENCH_ONLY=export``: run only the export throughput comparison;
- ``KIPPU_BENCH_ONLY=facilities``: run only the many-facility comparison of a source per
  session with the shared store (``bench.workbench_shared``, its sizes described there),
  with its data kept under ``KIPPU_BENCH_DIR`` (default ``var/bench``).

Prints one line per measurement and a Markdown table for ``docs/benchmarks.md``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import resource
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from bench import workbench_shared
from bench.generate import FACILITY_ID, generate
from core_service.exports import export_async, run_export
from kippu_contract.export_schema import PARTITION_BY, TABLES
from workbench.attendance import AttendanceState
from workbench.data_access import ExportSource
from workbench.mailing import MailingState
from workbench.sales import SalesState

P95_BUDGET_MS = 300.0
EXPORT_RATIO_TARGET = 0.5


def _env(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def time_refreshes(refresh: Callable[[], object], repeats: int) -> list[float]:
    refresh()  # warm-up: the first refresh loads the cache
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        refresh()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def bench_pages(root: Path, today: dt.date, repeats: int) -> dict[str, list[float]]:
    """Each page's refresh, as the served workbench runs it; prints the peak RSS.

    Attendance is timed twice: refreshing with no new file (the periodic tick between two
    export runs) and right after a new scan file and a new ticket file arrived, which is
    when the memory tables are updated. Mailing recounts follow a change of condition
    (the visit date alternates), as a manager's click does; a recount of an unchanged
    segment over unchanged data is served from memory.
    """
    exports = root / "exports"
    source = ExportSource(exports)
    attendance = AttendanceState(source, facility_id=FACILITY_ID, date=today)
    sales = SalesState(
        source, facility_id=FACILITY_ID, date_from=today - dt.timedelta(days=29), date_to=today
    )
    mailing = MailingState(source, facility_id=FACILITY_ID, visit_date=today - dt.timedelta(days=3))
    mailing_in = MailingState(
        source, facility_id=FACILITY_ID, visit_date=today - dt.timedelta(days=3), checked_in="yes"
    )

    def sales_page() -> None:
        sales.refresh()
        for by in ("day", "channel", "method", "product"):
            sales.breakdown(by)

    def change_visit_date(state: MailingState) -> Callable[[], None]:
        days = itertools.cycle([today - dt.timedelta(days=4), today - dt.timedelta(days=3)])

        def change() -> None:
            state.visit_date = next(days)  # the watcher recounts

        return change

    results = {
        "attendance (today, 7 queries)": time_refreshes(attendance.refresh, repeats),
        "attendance after a new scan file": _time_after_new_files(
            source, exports, today, attendance.tick, repeats
        ),
        "sales (30 days + 4 breakdowns)": time_refreshes(sales_page, repeats),
        "mailing count+sample (visit date)": time_refreshes(change_visit_date(mailing), repeats),
        "mailing count+sample (+ checked in)": time_refreshes(
            change_visit_date(mailing_in), repeats
        ),
    }
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(pages: peak RSS {peak:,.0f} MB, one source holding every page's tables)")
    return results


def _time_after_new_files(
    source: ExportSource, exports: Path, today: dt.date, refresh: Callable[[], object], n: int
) -> list[float]:
    """Time ``refresh`` right after each of ``n`` exports of 20 entry scans and 20 tickets.

    The files land in today's partitions as the exporter's would (20 of today's tickets in
    a newer version, and a first entry for each); they are removed afterwards, so a kept
    ``KIPPU_BENCH_DIR`` stays as generated.
    """
    tickets = source.sql(
        "SELECT * FROM tickets_log WHERE facility_id = ? AND date = ? ORDER BY id LIMIT 20",
        [FACILITY_ID, today],
    )
    written: list[Path] = []

    def write(table: str, rows: dict[str, object], name: str) -> None:
        schema = pa.schema([f for f in TABLES[table].schema if f.name not in PARTITION_BY])
        path = exports / table / f"facility_id={FACILITY_ID}" / f"date={today}" / name
        pq.write_table(pa.Table.from_pydict(rows, schema=schema), path)
        written.append(path)

    refresh()  # warm-up
    samples = []
    try:
        for i in range(n):
            version = {c: tickets[c].tolist() for c in TABLES["tickets"].file_columns}
            version["updated_at"] = [t + dt.timedelta(seconds=i + 1) for t in version["updated_at"]]
            write("tickets", version, f"live-{i:04d}.parquet")
            scanned = dt.datetime.combine(today, dt.time(3), dt.UTC)  # noon in Tokyo
            write(
                "checkins",
                {
                    "id": [10**12 + 100 * i + k for k in range(len(tickets))],
                    "ticket_id": tickets["id"].tolist(),
                    "device_id": [1] * len(tickets),
                    "gate_name": ["Gate 1"] * len(tickets),
                    "direction": ["entry"] * len(tickets),
                    "result": ["admitted"] * len(tickets),
                    "reason": [""] * len(tickets),
                    "scanned_at": [scanned] * len(tickets),
                },
                f"live-{i:04d}.parquet",
            )
            t0 = time.perf_counter()
            refresh()
            samples.append((time.perf_counter() - t0) * 1000)
    finally:
        for path in written:
            path.unlink(missing_ok=True)
        source.refresh()
    return samples


# -- export throughput -------------------------------------------------------------------


def _seed_sqlite(root: Path, rows: int) -> Path:
    """A migrated SQLite database with one facility, one gate, one ticket and ``rows`` scans."""
    from core_service.platform.database import upgrade_database
    from core_service.platform.settings import Settings

    db = root / "export-bench.sqlite3"
    # A reused KIPPU_BENCH_DIR still holds the last run's database: start afresh.
    db.unlink(missing_ok=True)
    upgrade_database(Settings(database_url=f"sqlite:///{db}", var_dir=root))
    con = sqlite3.connect(db)
    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    con.execute(
        "INSERT INTO facility (id, slug, name_ja, name_en, timezone, tax_registration_number, "
        "contact_email, signing_key_encrypted, signing_public_key, settings, created_at, "
        "updated_at) "
        "VALUES (1, 'bench', 'ベンチ', 'Bench', 'Asia/Tokyo', '', '', 'x', 'x', '{}', ?, ?)",
        (stamp, stamp),
    )
    con.execute(
        "INSERT INTO device (id, facility_id, kind, name, status, allowed_product_ids, created_at, "
        "updated_at) VALUES (1, 1, 'gate', 'Gate 1', '{}', '[]', ?, ?)",
        (stamp, stamp),
    )
    start = now - dt.timedelta(hours=8)
    con.executemany(
        "INSERT INTO checkin (id, facility_id, ticket_id, device_id, direction, result, reason, "
        "scanned_at) VALUES (?, 1, NULL, 1, 'entry', 'admitted', '', ?)",
        (
            (i + 1, (start + dt.timedelta(milliseconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f"))
            for i in range(rows)
        ),
    )
    con.commit()
    con.close()
    return db


def _warm_up() -> None:
    """Pay the libraries' one-off start-up costs before either side is timed.

    The first Arrow conversion and DuckDB connection in a process pay lazy imports and
    set-up (tens of milliseconds, up to 0.3 s in a bare process); without this they would
    be charged to whichever side runs first (kippu), and a throughput comparison should
    not depend on the order.
    """
    pa.array([0], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    duckdb.connect().close()


def _assert_same_export(kippu: Path, direct: Path) -> None:
    """Both sides wrote the same rows, partitions, column types and compression (untimed)."""
    con = duckdb.connect()
    columns = ", ".join(TABLES["checkins"].schema.names)

    def scan(path: Path) -> str:
        return f"read_parquet('{path}/*/*/*.parquet', hive_partitioning = true)"

    for a, b in ((kippu, direct), (direct, kippu)):
        missing = con.execute(
            f"SELECT count(*) FROM (SELECT {columns} FROM {scan(a)} "
            f"EXCEPT ALL SELECT {columns} FROM {scan(b)})"
        ).fetchone()
        assert missing == (0,), f"rows in {a} but not in {b}: {missing}"

    def layout(path: Path) -> set[tuple[str, ...]]:
        partitions = {str(p.relative_to(path)) for p in path.glob("*/*")}
        files = f"'{path}/*/*/*.parquet'"
        types = con.execute(
            f"SELECT DISTINCT name, type, logical_type FROM parquet_schema({files})"
        ).fetchall()
        codecs = con.execute(
            f"SELECT DISTINCT compression FROM parquet_metadata({files})"
        ).fetchall()
        return (
            {("partition", p) for p in partitions}
            | {("column", *map(str, t)) for t in types if t[0] != "duckdb_schema"}
            | {("codec", str(c[0])) for c in codecs}
        )

    assert layout(kippu) == layout(direct), layout(kippu) ^ layout(direct)
    con.close()


def _kippu_export(db: Path, root: Path, export_dir: Path, rows: int) -> float:
    """Seconds for one ``run_export`` of the database into a new export directory."""
    from core_service.platform.settings import Settings

    settings = Settings(database_url=f"sqlite:///{db}", var_dir=root, export_dir=export_dir)
    t0 = time.perf_counter()
    report = run_export(settings)
    seconds = time.perf_counter() - t0
    assert report.rows["checkins"] == rows, report
    return seconds


def _duckdb_direct(db: Path, out: Path) -> float:
    """Seconds for DuckDB to write the same rows to Parquet directly.

    The rows are read from the same database, handed to DuckDB as Arrow and written by
    ``COPY`` with the same partitioning.
    """
    t0 = time.perf_counter()
    con = sqlite3.connect(db)
    records = con.execute(
        "SELECT c.facility_id, c.id, c.ticket_id, c.device_id, d.name, c.direction, c.result, "
        "c.reason, c.scanned_at FROM checkin AS c LEFT JOIN device AS d ON d.id = c.device_id"
    ).fetchall()
    con.close()
    columns = list(zip(*records, strict=True))
    table = pa.table(
        {
            "facility_id": pa.array(columns[0], pa.int64()),
            "id": pa.array(columns[1], pa.int64()),
            "ticket_id": pa.array(columns[2], pa.int64()),
            "device_id": pa.array(columns[3], pa.int64()),
            "gate_name": pa.array(columns[4], pa.string()),
            "direction": pa.array(columns[5], pa.string()),
            "result": pa.array(columns[6], pa.string()),
            "reason": pa.array(columns[7], pa.string()),
            "scanned_at": pa.array(columns[8], pa.string()),
        }
    )
    duck = duckdb.connect()
    duck.register("batch", table)
    out.parent.mkdir(parents=True, exist_ok=True)
    duck.execute(
        "COPY (SELECT * EXCLUDE (scanned_at), CAST(scanned_at AS TIMESTAMP) AT TIME ZONE 'UTC' "
        "AS scanned_at, CAST(timezone('Asia/Tokyo', CAST(scanned_at AS TIMESTAMP) AT TIME ZONE "
        "'UTC') "
        f"AS DATE) AS date FROM batch) TO '{out}' (FORMAT parquet, PARTITION_BY "
        f"({', '.join(PARTITION_BY)}))"
    )
    duck.close()
    return time.perf_counter() - t0


def bench_export(root: Path, rows: int, rounds: int = 3) -> dict[str, float]:
    """Both sides ``rounds`` times, alternating, each into a new directory; the medians.

    On a machine shared with other work one run of either side can take twice as long as
    the next, so a single pair is mostly noise; alternating gives both sides the same
    conditions and the medians drop the outliers.
    """
    db = _seed_sqlite(root, rows)
    _warm_up()
    kippu_s, duckdb_s = [], []
    for n in range(rounds):
        kippu_s.append(_kippu_export(db, root, root / f"export-kippu-{n}", rows))
        duckdb_s.append(_duckdb_direct(db, root / f"export-duckdb-{n}" / "checkins"))
        _assert_same_export(
            root / f"export-kippu-{n}" / "checkins", root / f"export-duckdb-{n}" / "checkins"
        )
    ratios = [d / k for k, d in zip(kippu_s, duckdb_s, strict=True)]
    return {
        "rows": rows,
        "rounds": rounds,
        "kippu_rows_per_s": rows / statistics.median(kippu_s),
        "duckdb_rows_per_s": rows / statistics.median(duckdb_s),
        "ratio": statistics.median(duckdb_s) / statistics.median(kippu_s),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def report_export(export: dict[str, float]) -> bool:
    """Print the export comparison; True when kippu reaches the target ratio."""
    print(
        f"\nexport of {export['rows']:,} check-ins (median of {export['rounds']} rounds): "
        f"kippu {export['kippu_rows_per_s']:,.0f} rows/s, "
        f"DuckDB direct {export['duckdb_rows_per_s']:,.0f} rows/s, "
        f"ratio {export['ratio']:.2f} (target ≥ {EXPORT_RATIO_TARGET}; "
        f"rounds {export['ratio_min']:.2f}-{export['ratio_max']:.2f})"
    )
    return export["ratio"] >= EXPORT_RATIO_TARGET


def main_export() -> bool:
    """Only the export throughput (``KIPPU_BENCH_ONLY=export python -m bench workbench``)."""
    given = os.environ.get("KIPPU_BENCH_DIR")
    root = Path(given) if given else Path(tempfile.mkdtemp(prefix="kippu-bench-"))
    try:
        rows = _env("KIPPU_BENCH_EXPORT_ROWS", 200_000)
        return report_export(bench_export(root, rows, _env("KIPPU_BENCH_EXPORT_ROUNDS", 3)))
    finally:
        if not given:
            shutil.rmtree(root, ignore_errors=True)


# -- scan to dashboard ---------------------------------------------------------------------


def bench_scan_latency(root: Path, samples: int = 5) -> list[float]:
    """Gate scan through the core API → visible in AttendanceState, export run at once."""
    import httpx

    from core_service.app import create_app
    from core_service.demo.data import seed_demo_facility
    from core_service.models import Facility, Order, OrderLine, Ticket
    from core_service.orders.presenters import ticket_token
    from core_service.platform.database import make_engine, make_sessionmaker, upgrade_database
    from core_service.platform.settings import Settings

    settings = Settings(
        database_url=f"sqlite:///{root / 'scan.sqlite3'}",
        var_dir=root / "scan",
        secret_key="bench-secret",
    )
    upgrade_database(settings)

    async def prepare() -> tuple[str, list[str]]:
        engine = make_engine(settings)
        async with make_sessionmaker(engine)() as session:
            demo = await seed_demo_facility(session, settings.secret_key)
            facility = await session.get(Facility, demo.facility_id)
            assert facility is not None
            today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=9))).date()
            order = Order(
                facility_id=facility.id,
                code="BENCH1",
                channel="web",
                status="paid",
                total=2000 * samples,
                access_key="k",
                paid_at=dt.datetime.now(dt.UTC),
            )
            session.add(order)
            await session.flush()
            line = OrderLine(
                facility_id=facility.id,
                order_id=order.id,
                product_id=demo.day_ticket_id,
                price_category_id=demo.adult_category_id,
                product_name_ja="1日",
                product_name_en="Day",
                category_name_ja="大人",
                category_name_en="Adult",
                visit_date=today,
                quantity=samples,
                unit_price=2000,
                tax_rate=10,
                line_total=2000 * samples,
            )
            session.add(line)
            await session.flush()
            tickets = [
                Ticket(
                    facility_id=facility.id,
                    order_id=order.id,
                    order_line_id=line.id,
                    product_id=demo.day_ticket_id,
                    price_category_id=demo.adult_category_id,
                    valid_from=today,
                    valid_until=today,
                )
                for _ in range(samples)
            ]
            session.add_all(tickets)
            await session.commit()
            tokens = [ticket_token(facility, t, settings.secret_key) for t in tickets]
        await engine.dispose()
        return demo.gate_token, tokens

    gate_token, tokens = asyncio.run(prepare())
    run_export(settings)
    assert settings.export_dir is not None
    state = AttendanceState(ExportSource(settings.export_dir), facility_id=1)

    async def scan_and_watch() -> list[float]:
        """Each scan, then the core's export on the worker's own engine (what its
        background round runs, here at once instead of at the next due round) and the
        page's refresh, until the visitor shows."""
        app = create_app(settings, background=False)
        latencies = []
        async with (
            app.lifespan(),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://core"
            ) as client,
        ):
            for n, token in enumerate(tokens, start=1):
                response = await client.post(
                    "/api/v1/gate/scan",
                    json={"token": token},
                    headers={"Authorization": f"Bearer {gate_token}"},
                )
                assert response.json()["admitted"], response.text
                t0 = time.perf_counter()
                while state.admitted < n:
                    await export_async(settings, engine=app.state.engine)
                    state.tick()
                latencies.append((time.perf_counter() - t0) * 1000)
        return latencies

    return asyncio.run(scan_and_watch())


def main() -> bool:
    if os.environ.get("KIPPU_BENCH_ONLY") == "export":
        return main_export()
    if os.environ.get("KIPPU_BENCH_ONLY") == "facilities":
        return workbench_shared.main(Path(os.environ.get("KIPPU_BENCH_DIR", "var/bench")))
    checkins = _env("KIPPU_BENCH_CHECKINS", 10_000_000)
    orders = _env("KIPPU_BENCH_ORDERS", 1_000_000)
    repeats = _env("KIPPU_BENCH_REPEATS", 20)
    export_rows = _env("KIPPU_BENCH_EXPORT_ROWS", 200_000)
    given = os.environ.get("KIPPU_BENCH_DIR")
    root = Path(given) if given else Path(tempfile.mkdtemp(prefix="kippu-bench-"))
    today = dt.date.today()
    ok = True
    try:
        t0 = time.perf_counter()
        counts = generate(root / "exports", orders=orders, checkins=checkins, today=today)
        print(f"generated {counts} in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        pages = bench_pages(root, today, repeats)
        print(f"(page benchmark incl. first load: {time.perf_counter() - t0:.1f} s)")
        print("\n| page refresh | p50 ms | p95 ms | budget |\n|---|---|---|---|")
        for name, samples in pages.items():
            within = p95(samples) <= P95_BUDGET_MS
            ok &= within
            print(
                f"| {name} | {statistics.median(samples):.0f} | {p95(samples):.0f} | "
                f"{'ok' if within else 'OVER'} |"
            )
        ok &= workbench_shared.main(root)
        ok &= report_export(bench_export(root, export_rows, _env("KIPPU_BENCH_EXPORT_ROUNDS", 3)))
        scans = bench_scan_latency(root)
        print(
            f"scan → attendance state (export run at once): median {statistics.median(scans):.0f} "
            "ms, "
            f"max {max(scans):.0f} ms over {len(scans)} scans"
        )
    finally:
        if not given:
            shutil.rmtree(root, ignore_errors=True)
    return ok
