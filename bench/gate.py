"""Gate throughput benchmark: ticket scans through ``POST /api/v1/gate/scan``.

``python -m bench gate`` (PostgreSQL required) serves the core with ``kippu serve --workers
2`` on loopback, against a fresh database ``kippu_bench_<pid>`` seeded with the demo
facility, buys the tickets it scans through the kiosk API (paid, signed K1 tokens), and
then, with the demo gate's device token:

1. **closed loop**: ``KIPPU_BENCH_GATE_CLIENTS`` clients (default 16; aiohttp, one
   keep-alive connection each) redeem ``KIPPU_BENCH_GATE_TICKETS`` tickets (default 2,000)
   once each, as fast as the core answers. Every scan must be admitted.
2. **second scans**: the same clients scan every one of those tickets again; every scan
   must be refused as ``already_used``.
3. **the race**: ``KIPPU_BENCH_GATE_RACE`` tickets (default 100), each scanned by two
   clients at the same moment; each must be admitted exactly once (one ``admitted``, one
   ``already_used``), and the database must hold exactly one admitted check-in for each.
4. **open loop**: scans sent at a fixed ``KIPPU_BENCH_GATE_RATE`` per second (default 200)
   for ``KIPPU_BENCH_GATE_SECONDS`` (default 10), whether or not earlier ones have been
   answered; latency is measured from each scan's scheduled time, so a stall is counted
   against every scan it delays (no coordinated omission). Reported as p50 and p99.
5. **the raw limit**: the very statement a scan redeems a ticket with (``use_ticket``'s
   conditional ``UPDATE ticket ... RETURNING``) run by asyncpg from as many tasks as there
   are clients, autocommit, over the closed loop's tickets set back to unused, in the same
   run and on the same database.

CPU per scan of the core (both workers), PostgreSQL and the client are read from
``/proc``, since on a shared machine they vary less with other load than wall time does.
Targets: at least 500 scans/s closed-loop and p99 at most 20 ms at 200 scans/s; the
result is True only when every correctness check holds (the targets are reported).
``KIPPU_BENCH_PROFILE=<file>`` records the core with py-spy, as in ``bench.onsale``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import aiohttp
import asyncpg
import sqlalchemy as sa

from bench.onsale import (
    ADMIN_URL,
    SECRET,
    _admin,
    _core_environment,
    _db_url,
    _free_port,
    _process_tree,
    _stop,
    _wait_ready,
    cpu_seconds,
    postgres_cpu_seconds,
)
from core_service.demo.data import DemoFacility, seed_demo_facility
from core_service.models import Product
from core_service.platform.database import make_engine, make_sessionmaker, upgrade_database
from core_service.platform.settings import Settings

CLOSED_TARGET = 500.0  # scans/s
P99_TARGET_MS = 20.0  # at the open-loop rate
#: Tickets one kiosk order buys: few orders, so buying the tickets takes seconds.
PER_ORDER = 25

# use_ticket (core_service.orders.states) as SQL: the one statement that redeems.
RAW_REDEEM = (
    "UPDATE ticket SET uses_left = uses_left - 1,"
    " status = CASE WHEN uses_left = 1 THEN 'used' ELSE status END,"
    " first_used_at = coalesce(first_used_at, now())"
    " WHERE id = $1 AND facility_id = $2 AND status = 'valid' AND uses_left > 0"
    " RETURNING id"
)


@dataclass(frozen=True, slots=True)
class Phase:
    """One timed run of scans: what came back, how fast, at what cost."""

    scans: int
    seconds: float
    results: dict[str, int]
    latencies_ms: list[float]
    core_cpu_ms: float = 0.0
    postgres_cpu_ms: float = 0.0
    client_cpu_ms: float = 0.0

    @property
    def per_s(self) -> float:
        return self.scans / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]

    def line(self, name: str) -> str:
        return (
            f"{name}: {self.scans} scans in {self.seconds:.2f}s = {self.per_s:.0f} scans/s, "
            f"p50 {self.percentile(0.5):.1f} ms, p99 {self.percentile(0.99):.1f} ms, "
            f"results {dict(sorted(self.results.items()))}; CPU per scan: "
            f"core {self.core_cpu_ms:.2f} ms, PostgreSQL {self.postgres_cpu_ms:.2f} ms, "
            f"client {self.client_cpu_ms:.2f} ms"
        )


async def _seed(settings: Settings, tickets: int) -> DemoFacility:
    """The demo facility, its day ticket with room for every ticket the run scans."""
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            demo = await seed_demo_facility(session, SECRET, daily_capacity=tickets + 100)
            await session.execute(
                sa.update(Product)
                .where(Product.id == demo.day_ticket_id)
                .values(max_per_order=None)
            )
            await session.commit()
            return demo
    finally:
        await engine.dispose()


async def _buy(client: aiohttp.ClientSession, demo: DemoFacility, count: int) -> list[str]:
    """``count`` paid day tickets for today, bought at the demo kiosk: their QR tokens."""
    tokens: list[str] = []
    while len(tokens) < count:
        quantity = min(PER_ORDER, count - len(tokens))
        body = {
            "lines": [{"price_category_id": demo.adult_category_id, "quantity": quantity}],
            "answers": {"consent_waiver": True},
            "payment": {"method": "card", "reference": "bench-gate", "amount": 2000 * quantity},
        }
        headers = {
            "Authorization": f"Bearer {demo.kiosk_token}",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        async with client.post("/api/v1/kiosk/orders", json=body, headers=headers) as response:
            if response.status != 201:
                raise RuntimeError(f"kiosk sale: {response.status} {await response.text()}")
            tokens.extend(t["qr_token"] for t in (await response.json())["tickets"])
    return tokens


def _scan_body(token: str) -> bytes:
    return json.dumps({"token": token, "direction": "entry"}).encode()


async def _scan(client: aiohttp.ClientSession, headers: dict[str, str], token: str) -> str:
    """One scan: the answer's ``result`` (or ``http <status>``)."""
    async with client.post("/api/v1/gate/scan", data=_scan_body(token), headers=headers) as r:
        body = await r.read()
        if r.status != 200:
            return f"http {r.status}"
        return str(json.loads(body)["result"])


def _tally(results: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result] = counts.get(result, 0) + 1
    return counts


class Meter:
    """CPU of the core, PostgreSQL and this process over a phase."""

    def __init__(self, core_pid: int) -> None:
        self._pid = core_pid
        self._start = (cpu_seconds(core_pid), postgres_cpu_seconds(), time.process_time())

    def per_scan_ms(self, scans: int) -> tuple[float, float, float]:
        core, pg, own = self._start
        n = max(scans, 1)
        return (
            1000 * (cpu_seconds(self._pid) - core) / n,
            1000 * (postgres_cpu_seconds() - pg) / n,
            1000 * (time.process_time() - own) / n,
        )


async def _closed_loop(
    clients: list[aiohttp.ClientSession], headers: dict[str, str], tokens: list[str], pid: int
) -> Phase:
    """Every client scans the next token until none is left."""
    queue = list(reversed(tokens))
    results: list[str] = []
    latencies: list[float] = []

    async def client_loop(client: aiohttp.ClientSession) -> None:
        while queue:
            token = queue.pop()
            started = time.perf_counter()
            results.append(await _scan(client, headers, token))
            latencies.append(1000 * (time.perf_counter() - started))

    meter = Meter(pid)
    started = time.perf_counter()
    await asyncio.gather(*(client_loop(c) for c in clients))
    seconds = time.perf_counter() - started
    return Phase(
        len(results), seconds, _tally(results), latencies, *meter.per_scan_ms(len(results))
    )


async def _race(
    clients: list[aiohttp.ClientSession], headers: dict[str, str], tokens: list[str]
) -> list[tuple[str, str]]:
    """Each token scanned by two clients at once; pairs of clients take turns."""
    pairs = [(clients[i], clients[i + 1]) for i in range(0, len(clients) - 1, 2)]
    queue = list(reversed(tokens))
    outcomes: list[tuple[str, str]] = []

    async def pair_loop(a: aiohttp.ClientSession, b: aiohttp.ClientSession) -> None:
        while queue:
            token = queue.pop()
            first, second = await asyncio.gather(_scan(a, headers, token), _scan(b, headers, token))
            outcomes.append((first, second))

    await asyncio.gather(*(pair_loop(a, b) for a, b in pairs))
    return outcomes


async def _open_loop(
    base: str, headers: dict[str, str], tokens: list[str], rate: float, pid: int
) -> Phase:
    """One scan every 1/rate seconds, on a pool of keep-alive connections."""
    results: list[str] = []
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(base, connector=connector) as client:

        async def one(token: str, due: float) -> None:
            results.append(await _scan(client, headers, token))
            latencies.append(1000 * (time.perf_counter() - due))

        # Warm the pool's connections so the first second does not measure TCP set-up.
        await asyncio.gather(*(client.get("/healthz") for _ in range(16)))
        meter = Meter(pid)
        start = time.perf_counter() + 0.05
        tasks = []
        for i, token in enumerate(tokens):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(token, due)))
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - start
    return Phase(
        len(results), seconds, _tally(results), latencies, *meter.per_scan_ms(len(results))
    )


async def _admitted_once(url: str, ticket_count: int) -> str:
    """Whether the database shows every raced ticket admitted exactly once."""
    conn = await asyncpg.connect(url)
    try:
        twice = await conn.fetchval(
            "SELECT count(*) FROM (SELECT ticket_id FROM checkin WHERE result = 'admitted'"
            " GROUP BY ticket_id HAVING count(*) > 1) AS t"
        )
        admitted = await conn.fetchval(
            "SELECT count(DISTINCT ticket_id) FROM checkin WHERE result = 'admitted'"
        )
    finally:
        await conn.close()
    if twice:
        return f"{twice} tickets admitted more than once"
    if admitted != ticket_count:
        return f"{admitted} tickets admitted, expected {ticket_count}"
    return "ok"


async def _raw(url: str, facility_id: int, tokens_count: int, workers: int, pid: int) -> Phase:
    """The redeem statement alone over the first tickets, set back to unused first."""
    conn = await asyncpg.connect(url)
    try:
        ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT ticket_id AS id FROM checkin WHERE result = 'admitted'"
                " ORDER BY id LIMIT $1",
                tokens_count,
            )
        ]
        await conn.execute(
            "UPDATE ticket SET status = 'valid', uses_left = 1 WHERE id = ANY($1)", ids
        )
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(url, min_size=workers, max_size=workers)
    queue = list(reversed(ids))
    results: list[str] = []
    latencies: list[float] = []

    async def worker() -> None:
        while queue:
            ticket_id = queue.pop()
            started = time.perf_counter()
            async with pool.acquire() as c:
                row = await c.fetchrow(RAW_REDEEM, ticket_id, facility_id)
            latencies.append(1000 * (time.perf_counter() - started))
            results.append("admitted" if row else "already_used")

    try:
        meter = Meter(pid)  # the core is idle meanwhile
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        seconds = time.perf_counter() - started
        cpu = meter.per_scan_ms(len(results))
    finally:
        await pool.close()
    return Phase(len(results), seconds, _tally(results), latencies, *cpu)


def _start_core(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """``kippu serve`` as a deployment runs it (optionally under py-spy)."""
    profile = os.environ.get("KIPPU_BENCH_PROFILE")
    prefix = (
        [
            shutil.which("py-spy", path=os.path.dirname(sys.executable)) or "py-spy",
            "record",
            "--subprocesses",
            "--format",
            "raw",
            "-o",
            profile,
            "--",
        ]
        if profile
        else []
    )
    # No access log: a gate deployment's proxy logs requests; a line per scan written by
    # the core itself cost about 15% of its CPU per scan (py-spy, docs/benchmarks.md).
    command = [sys.executable, "-m", "kippu_cli", "serve", "--port", str(port), "--no-access-log"]
    return subprocess.Popen(
        [*prefix, *command, "--workers", str(workers)], env=_core_environment(url, port)
    )


def _stop_leftovers(pids: list[int]) -> None:
    """End the uvicorn workers a stopped py-spy can leave behind (they are ours)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue


@dataclass(frozen=True, slots=True)
class Report:
    closed: Phase
    again: Phase
    race: list[tuple[str, str]]
    race_check: str
    open: Phase
    raw: Phase
    load: str

    def problems(self, tickets: int) -> list[str]:
        found = []
        if self.closed.results != {"admitted": tickets}:
            found.append(f"first scans {self.closed.results}")
        if self.again.results != {"already_used": tickets}:
            found.append(f"second scans {self.again.results}")
        wrong = [o for o in self.race if sorted(o) != ["admitted", "already_used"]]
        if wrong:
            found.append(f"{len(wrong)} raced tickets not admitted exactly once: {wrong[:3]}")
        if self.race_check != "ok":
            found.append(self.race_check)
        if self.open.results != {"admitted": self.open.scans}:
            found.append(f"open-loop scans {self.open.results}")
        if self.raw.results != {"admitted": tickets}:
            found.append(f"raw statement {self.raw.results}")
        return found


async def run(tickets: int, clients: int, race: int, rate: float, seconds: float) -> Report:
    name = f"kippu_bench_{os.getpid()}"
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{name}"')
    url = _db_url(name)
    settings = Settings(database_url=url, secret_key=SECRET)
    open_count = int(rate * seconds)
    await asyncio.to_thread(upgrade_database, settings)  # alembic runs its own loop
    demo = await _seed(settings, tickets + race + open_count)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    core = _start_core(url, port, int(os.environ.get("KIPPU_BENCH_WORKERS", "2")))
    sessions: list[aiohttp.ClientSession] = []
    try:
        await _wait_ready(base)
        sessions = [
            aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=1))
            for _ in range(clients)
        ]
        tokens = await _buy(sessions[0], demo, tickets + race + open_count)
        first, raced, later = (
            tokens[:tickets],
            tokens[tickets : tickets + race],
            tokens[tickets + race :],
        )
        headers = {"Authorization": f"Bearer {demo.gate_token}"}
        # Warm-up: every connection open, each worker's facility snapshot loaded.
        await asyncio.gather(*(s.get("/healthz") for s in sessions))
        load = os.getloadavg()
        closed = await _closed_loop(sessions, headers, first, core.pid)
        print(closed.line("closed loop"), flush=True)
        again = await _closed_loop(sessions, headers, first, core.pid)
        print(again.line("second scans"), flush=True)
        race_outcomes = await _race(sessions, headers, raced)
        race_check = await _admitted_once(url, tickets + race)
        print(f"race: {len(race_outcomes)} tickets scanned twice at once; {race_check}")
        opened = await _open_loop(base, headers, later, rate, core.pid)
        print(opened.line(f"open loop at {rate:.0f}/s"), flush=True)
        raw = await _raw(url, demo.facility_id, tickets, clients, core.pid)
        print(raw.line("raw redeem statement"), flush=True)
    finally:
        for s in sessions:
            await s.close()
        tree = _process_tree(core.pid)
        _stop(core, signal.SIGINT if os.environ.get("KIPPU_BENCH_PROFILE") else signal.SIGTERM)
        _stop_leftovers(tree)
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return Report(
        closed,
        again,
        race_outcomes,
        race_check,
        opened,
        raw,
        f"load average {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} on {os.cpu_count()} cores",
    )


def main() -> bool:
    """Run the benchmark; True when every correctness check held."""
    tickets = int(os.environ.get("KIPPU_BENCH_GATE_TICKETS", "2000"))
    clients = int(os.environ.get("KIPPU_BENCH_GATE_CLIENTS", "16"))
    race = int(os.environ.get("KIPPU_BENCH_GATE_RACE", "100"))
    rate = float(os.environ.get("KIPPU_BENCH_GATE_RATE", "200"))
    seconds = float(os.environ.get("KIPPU_BENCH_GATE_SECONDS", "10"))
    try:
        asyncio.run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"gate: skipped, PostgreSQL not reachable at {ADMIN_URL}: {exc}")
        return os.environ.get("CI", "").lower() != "true"
    report = asyncio.run(run(tickets, clients, race, rate, seconds))
    problems = report.problems(tickets)
    closed_ok = report.closed.per_s >= CLOSED_TARGET
    p99_ok = report.open.percentile(0.99) <= P99_TARGET_MS
    print(
        f"gate summary ({report.load} at the start): closed loop "
        f"{report.closed.per_s:.0f} scans/s (target {CLOSED_TARGET:.0f}: "
        f"{'met' if closed_ok else 'missed'}), raw statement {report.raw.per_s:.0f}/s, "
        f"kippu/raw {100 * report.closed.per_s / max(report.raw.per_s, 1):.1f}%; "
        f"open loop p99 {report.open.percentile(0.99):.1f} ms (target {P99_TARGET_MS:.0f} ms: "
        f"{'met' if p99_ok else 'missed'}); "
        f"checks: {'; '.join(problems) if problems else 'all held'}",
        flush=True,
    )
    return not problems


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
