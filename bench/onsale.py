"""Onsale benchmark: hundreds of concurrent buyers on the last places of ONE time slot.

``python -m bench onsale`` (PostgreSQL required) does, for each buyer count N (64, 256):

1. kippu end to end: the core runs under uvicorn in a subprocess on loopback, against a
   fresh database ``kippu_bench_<pid>`` seeded with the demo facility; N buyers
   (aiohttp, one keep-alive connection each) each buy one ticket at a time of one slot with capacity C
   through the kiosk API (``POST /api/v1/kiosk/orders`` with the demo kiosk's device
   token) until the slot answers "sold out". Why the kiosk API: it is kippu's JSON buy
   path that takes an order from request to issued, signed tickets in one request
   (place_order with an immediate payment: capacity, order, lines, payment, tickets), so
   every order measured is complete. The web checkout does the same place_order but
   splits it over an HTML form, a redirect and a payment return.
2. the raw SQL limit: the very statement kippu takes places with (the conditional
   ``UPDATE capacity SET sold = sold + 1 WHERE id = $1 AND sold + held + 1 <= capacity``
   and the receipt row, in one CTE) in a tight asyncpg loop, N concurrent workers over a pool as large as kippu's, on a
   fresh row of the same database, in the same run.
3. the invariant: sold == C (never more), held == 0, one ticket per sold place, and every
   order has exactly as many tickets as it bought.

Sizes: ``KIPPU_BENCH_CAPACITY`` (default 1000), ``KIPPU_BENCH_BUYERS`` ("64,256"),
``KIPPU_BENCH_WORKERS`` (uvicorn workers, default 2), ``KIPPU_BENCH_RAW_CAPACITY`` (places
the raw loop sells per round, default 8000: enough to time it), ``KIPPU_BENCH_REPEAT``
(rounds per buyer count, default 3: a 4-second round on a shared machine is noisy, so
the summary gives the median of the rounds' ratios, each measured side by side), PostgreSQL admin URL
``KIPPU_BENCH_POSTGRES_URL`` (default ``KIPPU_TEST_POSTGRES_URL`` or the local server).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import httpx
import sqlalchemy as sa

from core_service.demo.data import seed_demo_facility
from core_service.models import Product
from core_service.platform.database import make_engine, make_sessionmaker, upgrade_database
from core_service.platform.settings import Settings
from kippu_contract.facility_time import facility_today

ADMIN_URL = os.environ.get(
    "KIPPU_BENCH_POSTGRES_URL",
    os.environ.get("KIPPU_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
SECRET = "bench-secret-key-for-kippu-onsale"
#: Connections of the raw loop: as many as the two core workers hold together (2 x 15,
#: make_engine's pool_size with no overflow).
CORE_POOL = 30


@dataclass(frozen=True, slots=True)
class RoundResult:
    buyers: int
    capacity: int
    orders: int
    refused: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    raw_updates: int
    raw_seconds: float
    invariant: str  # "ok" or what broke
    core_cpu_ms_per_order: float = 0.0
    postgres_cpu_ms_per_order: float = 0.0
    client_cpu_ms_per_order: float = 0.0

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    @property
    def raw_per_s(self) -> float:
        return self.raw_updates / self.raw_seconds if self.raw_seconds else 0.0

    @property
    def fraction(self) -> float:
        return self.orders_per_s / self.raw_per_s if self.raw_per_s else 0.0


def _db_url(name: str) -> str:
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _seed(settings: Settings, capacity: int) -> tuple[str, int, int, str]:
    """Demo facility; the timed product sold at kiosks too, its slots of ``capacity``.
    Returns (kiosk token, price category id, product id, slot)."""
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            demo = await seed_demo_facility(session, SECRET, slot_capacity=capacity)
            await session.execute(
                sa.update(Product)
                .where(Product.id == demo.timed_ticket_id)
                .values(channels=["web", "kiosk"], max_per_order=None)
            )
            await session.commit()
            return (
                demo.kiosk_token,
                demo.timed_adult_category_id,
                demo.timed_ticket_id,
                demo.timed_slots[0],
            )
    finally:
        await engine.dispose()


def _core_environment(url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "KIPPU_DATABASE_URL": url,
        "KIPPU_SECRET_KEY": SECRET,
        "KIPPU_BASE_URL": f"http://127.0.0.1:{port}",
        # What is measured is selling. The core's own periodic export (on by default
        # since exports moved out of the workbench) is off, as it was before, when
        # exports ran in a separate process or not at all.
        "KIPPU_EXPORT_INTERVAL_SECONDS": "0",
    }


def _start_worker(url: str, port: int) -> subprocess.Popen[bytes]:
    """The job worker a PostgreSQL deployment runs beside the core (holds, mail, ...):
    it shares the machine with the core as it would in production."""
    return subprocess.Popen(
        [sys.executable, "-m", "kippu_cli", "worker", "--concurrency", "2"],
        env=_core_environment(url, port),
    )


def _start_core(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = _core_environment(url, port)
    # KIPPU_BENCH_PROFILE=<file>: record the core with py-spy (collapsed stacks).
    profile = os.environ.get("KIPPU_BENCH_PROFILE")
    prefix = (
        ["py-spy", "record", "--subprocesses", "--format", "raw", "-o", profile, "--"]
        if profile
        else []
    )
    return subprocess.Popen(
        [
            *prefix,
            sys.executable,
            "-m",
            "uvicorn",
            "core_service.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )


async def _wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the core did not start")


async def _buyers(
    base: str, token: str, category: int, day: dt.date, slot: str, buyers: int, price: int
) -> tuple[list[float], int, int, float]:
    """Every buyer buys one ticket at a time until sold out: (latencies, refused, errors, s).

    aiohttp, one keep-alive connection per buyer: its C parser keeps the load generator's
    own CPU per order small, since it shares the two cores with the core and PostgreSQL."""
    latencies: list[float] = []
    refused = errors = 0
    body = json.dumps(
        {
            "lines": [
                {
                    "price_category_id": category,
                    "quantity": 1,
                    "visit_date": day.isoformat(),
                    "slot": slot,
                }
            ],
            "payment": {"method": "card", "reference": "bench", "amount": price},
            "answers": {"consent_waiver": True},
        }
    ).encode()

    async def buyer(client: aiohttp.ClientSession) -> None:
        nonlocal refused, errors
        while True:
            started = time.perf_counter()
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            }
            try:
                async with client.post(
                    "/api/v1/kiosk/orders", data=body, headers=headers
                ) as response:
                    status = response.status
                    text = await response.read()
            except aiohttp.ClientError:
                errors += 1
                continue
            if status == 201:
                latencies.append(time.perf_counter() - started)
            elif status == 409:
                refused += 1
                return  # sold out
            else:
                errors += 1
                if errors > 50:
                    raise RuntimeError(f"{status}: {text[:300]!r}")

    connector = aiohttp.TCPConnector(limit=buyers, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:
        started = time.perf_counter()
        await asyncio.gather(*(buyer(client) for _ in range(buyers)))
        return latencies, refused, errors, time.perf_counter() - started


async def _check(url: str, product_id: int, day: dt.date, slot: str, capacity: int) -> str:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT capacity, sold, held FROM capacity WHERE product_id=$1 AND date=$2 AND slot=$3",
            product_id,
            day,
            slot,
        )
        tickets = await conn.fetchval(
            "SELECT count(*) FROM ticket WHERE product_id=$1 AND valid_from=$2 AND slot=$3",
            product_id,
            day,
            slot,
        )
        lines = await conn.fetchval(
            "SELECT coalesce(sum(quantity), 0) FROM order_line ol"
            " JOIN orders o ON o.id = ol.order_id"
            " WHERE ol.product_id=$1 AND ol.visit_date=$2 AND ol.slot=$3 AND o.status='paid'",
            product_id,
            day,
            slot,
        )
        mismatched = await conn.fetchval(
            "SELECT count(*) FROM order_line ol WHERE ol.product_id=$1 AND ol.visit_date=$2"
            " AND ol.quantity <> (SELECT count(*) FROM ticket t WHERE t.order_line_id = ol.id)",
            product_id,
            day,
        )
    finally:
        await conn.close()
    problems = []
    if row is None or row["sold"] != capacity or row["capacity"] != capacity:
        problems.append(f"sold {row and row['sold']} of {capacity}")
    if row is not None and row["held"] != 0:
        problems.append(f"held {row['held']}")
    if tickets != capacity or lines != capacity:
        problems.append(f"tickets {tickets}, paid places {lines}")
    if mismatched:
        problems.append(f"{mismatched} order lines without exactly one ticket per place")
    return "ok" if not problems else "; ".join(problems)


async def _raw(
    url: str, product_id: int, facility_id: int, workers: int, capacity: int, slot: str
) -> tuple[int, float]:
    """The conditional UPDATE alone, N concurrent workers, autocommit: (updates, seconds)."""
    conn = await asyncpg.connect(url)
    try:
        row_id = await conn.fetchval(
            "INSERT INTO capacity (facility_id, product_id, date, slot, capacity, sold, held,"
            " created_at, updated_at) VALUES ($1, $2, '2100-01-01', $4, $3, 0, 0, now(), now())"
            " RETURNING id",
            facility_id,
            product_id,
            capacity,
            slot,
        )
    finally:
        await conn.close()
    # kippu's reservation statement (catalog.reservations): the conditional UPDATE and
    # the receipt row in one data-modifying CTE.
    statement = (
        "WITH taken AS (UPDATE capacity SET sold = sold + $2, updated_at = now()"
        " WHERE id = $1 AND sold + held + $2 <= capacity RETURNING id)"
        " INSERT INTO capacity_reservation (capacity_id, facility_id, quantity, counter,"
        " created_at) SELECT id, $3, $2, 'sold', now() FROM taken"
    )
    pool = await asyncpg.create_pool(
        url, min_size=min(workers, CORE_POOL), max_size=min(workers, CORE_POOL)
    )
    done = 0

    async def worker() -> None:
        nonlocal done
        while True:
            async with pool.acquire() as conn:
                result = await conn.execute(statement, row_id, 1, facility_id)
            if result.endswith(" 0"):
                return
            done += 1

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        seconds = time.perf_counter() - started
    finally:
        await pool.close()
    return done, seconds


async def run(
    capacity: int, buyer_counts: list[int], workers: int, raw_capacity: int, repeat: int
) -> list[RoundResult]:
    name = f"kippu_bench_{os.getpid()}"
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{name}"')
    url = _db_url(name)
    settings = Settings(database_url=url, secret_key=SECRET)
    await asyncio.to_thread(upgrade_database, settings)  # alembic runs its own loop
    token, category, product_id, slot = await _seed(settings, capacity)
    conn = await asyncpg.connect(url)
    facility_id = await conn.fetchval("SELECT facility_id FROM product WHERE id=$1", product_id)
    await conn.close()
    port = _free_port()
    core = _start_core(url, port, workers)
    worker = _start_worker(url, port)
    results = []
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(base)
        today = facility_today("Asia/Tokyo")
        rounds = [(buyers, r) for buyers in buyer_counts for r in range(repeat)]
        for i, (buyers, r) in enumerate(rounds):
            day = today + dt.timedelta(days=1 + i)  # a fresh slot row per round
            cpu_before = cpu_seconds(core.pid)
            pg_before, own_before = postgres_cpu_seconds(), time.process_time()
            latencies, refused, errors, seconds = await _buyers(
                base, token, category, day, slot, buyers, 1500
            )
            core_cpu = cpu_seconds(core.pid) - cpu_before
            pg_cpu = postgres_cpu_seconds() - pg_before
            client_cpu = time.process_time() - own_before
            invariant = await _check(url, product_id, day, slot, capacity)
            print(f"kippu: {len(latencies)} orders in {seconds:.2f}s", flush=True)
            raw_updates, raw_seconds = await _raw(
                url, product_id, facility_id, buyers, raw_capacity, f"raw{buyers}-{r}"
            )
            latencies.sort()
            results.append(
                RoundResult(
                    buyers=buyers,
                    capacity=capacity,
                    orders=len(latencies),
                    refused=refused,
                    errors=errors,
                    seconds=seconds,
                    p50_ms=1000 * statistics.median(latencies) if latencies else 0.0,
                    p99_ms=1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
                    if latencies
                    else 0.0,
                    raw_updates=raw_updates,
                    raw_seconds=raw_seconds,
                    invariant=invariant,
                    core_cpu_ms_per_order=1000 * core_cpu / max(len(latencies), 1),
                    postgres_cpu_ms_per_order=1000 * pg_cpu / max(len(latencies), 1),
                    client_cpu_ms_per_order=1000 * client_cpu / max(len(latencies), 1),
                )
            )
            _print(results[-1])
    finally:
        # py-spy writes its profile on SIGINT; SIGTERM would kill it and orphan uvicorn.
        _stop(core, signal.SIGINT if os.environ.get("KIPPU_BENCH_PROFILE") else signal.SIGTERM)
        _stop(worker, signal.SIGTERM)
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def _stop(process: subprocess.Popen[bytes], sig: int) -> None:
    process.send_signal(sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its descendants: a measure of
    cost per order that, unlike wall time, other load on the machine hardly changes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for child in _process_tree(pid):
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL server process on this machine (same caveat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, IndexError, ValueError):
            continue
        if name.startswith("postgres"):
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _print(r: RoundResult) -> None:
    print(
        f"onsale N={r.buyers:>3} C={r.capacity}: {r.orders} orders in {r.seconds:.2f}s = "
        f"{r.orders_per_s:.0f} orders/s, p50 {r.p50_ms:.0f} ms, p99 {r.p99_ms:.0f} ms, "
        f"refused {r.refused}, errors {r.errors}; raw UPDATE {r.raw_per_s:.0f}/s; "
        f"kippu/raw {100 * r.fraction:.1f}%; CPU per order: core {r.core_cpu_ms_per_order:.1f} ms, "
        f"PostgreSQL {r.postgres_cpu_ms_per_order:.1f} ms, buyers {r.client_cpu_ms_per_order:.1f} ms; "
        f"invariant {r.invariant}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> bool:
    """Run the benchmark; True when the invariant held in every round."""
    capacity = int(os.environ.get("KIPPU_BENCH_CAPACITY", "1000"))
    buyers = [int(n) for n in os.environ.get("KIPPU_BENCH_BUYERS", "64,256").split(",")]
    workers = int(os.environ.get("KIPPU_BENCH_WORKERS", "2"))
    raw_capacity = int(os.environ.get("KIPPU_BENCH_RAW_CAPACITY", "8000"))
    repeat = int(os.environ.get("KIPPU_BENCH_REPEAT", "3"))
    try:
        asyncio.run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"onsale: skipped, PostgreSQL not reachable at {ADMIN_URL}: {exc}")
        return os.environ.get("CI", "").lower() != "true"
    results = asyncio.run(run(capacity, buyers, workers, raw_capacity, repeat))
    for count in buyers:
        fractions = [r.fraction for r in results if r.buyers == count]
        rates = [r.orders_per_s for r in results if r.buyers == count]
        print(
            f"onsale N={count:>3}: median of {len(fractions)} rounds: "
            f"{statistics.median(rates):.0f} orders/s, "
            f"kippu/raw {100 * statistics.median(fractions):.1f}% "
            f"(rounds: {', '.join(f'{100 * f:.1f}%' for f in fractions)})",
            flush=True,
        )
    return all(r.invariant == "ok" for r in results)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
