"""Soak: the scaled-out deployment under mixed load, with processes and the database
killed mid-run; afterwards nothing is lost, doubled or oversold.

``python -m bench soak`` runs, against PostgreSQL on loopback and an SMTP server in this
process: 3 core processes (``kippu serve``) and 2 job workers (``kippu worker``), started
as deploy/compose.yaml starts them. For ``KIPPU_BENCH_SOAK_SECONDS`` (default 180) it
sells on the web (checkout on one core, payment on another, marketing opt-in) and at
kiosks (retrying with the same idempotency key when a core does not answer), scans the
kiosk tickets at gates (some twice), and sends a mail campaign to
``KIPPU_BENCH_SOAK_CAMPAIGN`` (default 600) customers. At 30% of the run one worker and
one core are killed (SIGKILL) and restarted 3 s later; at 60% PostgreSQL is restarted
(``pg_ctlcluster ... restart``; ``KIPPU_BENCH_SOAK_PG_RESTART=0`` skips it: it needs root
and disturbs anything else using the server, so on a shared machine give the soak a
cluster of its own: ``KIPPU_BENCH_SOAK_PG_CLUSTER`` names it, default ``main``, and
``KIPPU_BENCH_POSTGRES_URL`` points at its port; docs/benchmarks.md shows how). A
process that dies is restarted, as compose's ``restart: unless-stopped`` would.

Then, once the outbox has drained and two more export periods have passed, it checks:
every paid order has all its tickets; every paid web order got exactly one confirmation
mail and no other order got one; every campaign message arrived exactly once; the exports
hold every order, ticket and check-in row; no date sold more places than it has; every
gate scan of a ticket admitted at most once. Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiosmtpd.controller import Controller

from bench.onsale import ADMIN_URL, _admin, _db_url, _free_port
from core_service.demo.data import DEMO_PASSWORD, demo_staff_email, seed_demo_facility
from core_service.exports.exporter import LAST_RUN_FILE
from core_service.models import Customer
from core_service.platform.database import make_engine, make_sessionmaker, upgrade_database
from core_service.platform.settings import Settings
from kippu_contract.facility_time import facility_today

SECRET = "soak-secret-key"
CORES = 3
WORKERS = 2
WEB_BUYERS = 3
KIOSK_BUYERS = 3
SCANNERS = 2
#: Future visit dates the buyers spread over; each has the demo's 500 places.
DATES = 3


class Inbox:
    """SMTP server handler: every message's recipient, subject and Message-ID."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        from email import message_from_bytes, policy

        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(
                (str(message["To"]).lower(), str(message["Subject"]), str(message["Message-ID"]))
            )
        return "250 OK"


@dataclass
class Tally:
    web_paid: int = 0
    kiosk_paid: int = 0
    kiosk_retries: int = 0
    sold_out: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    scans: Counter[str] = field(default_factory=Counter)
    admitted: Counter[int] = field(default_factory=Counter)
    tickets_to_scan: list[str] = field(default_factory=list)
    web_latency: list[float] = field(default_factory=list)
    kiosk_latency: list[float] = field(default_factory=list)
    restarts: int = 0


class Fleet:
    """The kippu processes, restarted when they die (compose's restart policy)."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.ports = [_free_port() for _ in range(CORES)]
        self.cores: list[subprocess.Popen[bytes]] = [self._core(i) for i in range(CORES)]
        self.workers: list[subprocess.Popen[bytes]] = [self._worker(i) for i in range(WORKERS)]
        self.paused: set[tuple[str, int]] = set()
        self.restarts = 0

    def _start(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        with (self.logs / log).open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "kippu_cli", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _core(self, i: int) -> subprocess.Popen[bytes]:
        return self._start(["serve", "--port", str(self.ports[i])], f"core-{i}.log")

    def _worker(self, i: int) -> subprocess.Popen[bytes]:
        return self._start(["worker", "--concurrency", "4"], f"worker-{i}.log")

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i % CORES]}"

    def kill(self, kind: str, i: int) -> None:
        process = (self.cores if kind == "core" else self.workers)[i]
        self.paused.add((kind, i))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def resume(self, kind: str, i: int) -> None:
        self.paused.discard((kind, i))
        if kind == "core":
            self.cores[i] = self._core(i)
        else:
            self.workers[i] = self._worker(i)

    def supervise(self) -> None:
        for kind, group, make in (
            ("core", self.cores, self._core),
            ("worker", self.workers, self._worker),
        ):
            for i, process in enumerate(group):
                if process.poll() is not None and (kind, i) not in self.paused:
                    group[i] = make(i)
                    self.restarts += 1

    def stop(self) -> None:
        for process in [*self.cores, *self.workers]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.cores, *self.workers]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


async def _seed(settings: Settings, customers: int) -> tuple[Any, list[str]]:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            demo = await seed_demo_facility(session, settings.secret_key)
            people = [
                Customer(
                    facility_id=demo.facility_id,
                    email=f"fan{i}@soak.example",
                    name=f"Fan {i}",
                    pseudonym=uuid.uuid4().hex,
                    marketing_opt_in=True,
                    locale="ja" if i % 2 else "en",
                )
                for i in range(customers)
            ]
            session.add_all(people)
            await session.commit()
            return demo, [p.pseudonym for p in people]
    finally:
        await engine.dispose()


def _find(pattern: str, html: str) -> str:
    match = re.search(pattern, html)
    if match is None:
        raise ValueError(f"no {pattern!r} in the page")
    return unescape(match.group(1))


async def _web_buyer(
    fleet: Fleet, demo: Any, days: list[dt.date], stop: asyncio.Event, tally: Tally, n: int
) -> None:
    i = 0
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set():
            i += 1
            started = time.perf_counter()
            form = {
                "checkout_id": uuid.uuid4().hex,
                "visit_date": random.choice(days).isoformat(),
                f"qty_{demo.adult_category_id}": "1",
                "email": f"buyer{n}-{i}@soak.example",
                "name": "Soak Buyer",
                "consent_waiver": "on",
                "marketing_opt_in": "on",
                "payment": "demo:card",
            }
            try:
                checkout = await client.post(
                    fleet.url(i) + f"/shop/{demo.slug}/products/day", data=form
                )
                if checkout.status_code == 409:  # that date is sold out
                    tally.sold_out += 1
                    continue
                if checkout.status_code != 303:
                    tally.errors[f"web checkout {checkout.status_code}"] += 1
                    continue
                # Payment on another core than the checkout (the redirect names the first).
                pay_path = httpx.URL(checkout.headers["location"]).raw_path.decode()
                page = await client.get(fleet.url(i + 1) + pay_path)
                action = _find(r'<form method="post" action="([^"]+/approve)"', page.text)
                key = _find(r'name="key" value="([^"]+)"', page.text)
                approved = await client.post(fleet.url(i + 1) + action, data={"key": key})
                if approved.status_code != 303:
                    tally.errors[f"web approve {approved.status_code}"] += 1
                    continue
                tally.web_paid += 1
                tally.web_latency.append(time.perf_counter() - started)
            except (httpx.TransportError, ValueError) as exc:
                tally.errors[f"web {type(exc).__name__}"] += 1
                await asyncio.sleep(0.2)


async def _kiosk_buyer(
    fleet: Fleet, demo: Any, days: list[dt.date], stop: asyncio.Event, tally: Tally, n: int
) -> None:
    i = 0
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set():
            i += 1
            today = n == 0 or i % 2 == 0  # today's tickets are the ones gates can scan
            line: dict[str, Any] = {"price_category_id": demo.adult_category_id, "quantity": 2}
            if not today:
                line["visit_date"] = random.choice(days).isoformat()
            body = {
                "lines": [line],
                "answers": {"consent_waiver": True},
                "payment": {"method": "card", "reference": f"soak-{n}-{i}", "amount": 4000},
                "locale": "ja",
            }
            headers = {
                "Authorization": f"Bearer {demo.kiosk_token}",
                "Idempotency-Key": uuid.uuid4().hex,
            }
            started = time.perf_counter()
            for attempt in range(20):  # the kiosk driver retries with the same key
                try:
                    response = await client.post(
                        fleet.url(i + attempt) + "/api/v1/kiosk/orders", json=body, headers=headers
                    )
                except httpx.TransportError:
                    response = None
                if response is not None and response.status_code < 500:
                    break
                tally.kiosk_retries += 1
                await asyncio.sleep(0.5)
            else:
                tally.errors["kiosk gave up"] += 1
                continue
            if response.status_code in (200, 201):  # 200: a replay of a sale that was made
                tally.kiosk_paid += 1
                tally.kiosk_latency.append(time.perf_counter() - started)
                if today:
                    tally.tickets_to_scan.extend(t["qr_token"] for t in response.json()["tickets"])
            elif response.status_code == 409:
                tally.sold_out += 1
                await asyncio.sleep(0.2)
            else:
                tally.errors[f"kiosk {response.status_code}"] += 1


async def _scanner(fleet: Fleet, demo: Any, stop: asyncio.Event, tally: Tally, n: int) -> None:
    i = 0
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set():
            if not tally.tickets_to_scan:
                await asyncio.sleep(0.2)
                continue
            i += 1
            token = tally.tickets_to_scan.pop()
            if random.random() < 0.1:
                tally.tickets_to_scan.insert(0, token)  # scanned again later: must refuse
            try:
                response = await client.post(
                    fleet.url(i + n) + "/api/v1/gate/scan",
                    json={"token": token, "direction": "entry"},
                    headers={"Authorization": f"Bearer {demo.gate_token}"},
                )
            except httpx.TransportError:
                tally.errors["scan transport"] += 1
                tally.tickets_to_scan.append(token)
                continue
            if response.status_code != 200:
                tally.errors[f"scan {response.status_code}"] += 1
                tally.tickets_to_scan.append(token)
                continue
            body = response.json()
            tally.scans[body["result"]] += 1
            if body["admitted"]:
                tally.admitted[hash(token)] += 1


async def _campaign(fleet: Fleet, demo: Any, keys: list[str], tally: Tally) -> int:
    async with httpx.AsyncClient(base_url=fleet.url(1), timeout=60) as client:
        for _ in range(30):
            try:
                login = await client.post(
                    "/api/v1/auth/login",
                    json={
                        "facility": demo.slug,
                        "email": demo_staff_email("manager", demo.slug),
                        "password": DEMO_PASSWORD,
                    },
                )
                token = login.json()["token"]
                response = await client.post(
                    "/api/v1/mailings",
                    json={
                        "composition": {
                            "subject_ja": "ソークのお知らせ",
                            "subject_en": "Soak news",
                            "body_ja": "{name}様 ありがとうございます",
                            "body_en": "Dear {name}, thank you",
                        },
                        "customer_keys": keys,
                    },
                    headers={"Authorization": f"Bearer {token}"},
                )
                response.raise_for_status()
                return int(response.json()["id"])
            except (httpx.HTTPError, KeyError, ValueError):
                tally.errors["campaign retry"] += 1
                await asyncio.sleep(1)
    raise RuntimeError("could not create the campaign")


def _restart_postgres() -> float:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    cluster = os.environ.get("KIPPU_BENCH_SOAK_PG_CLUSTER", "main")
    started = time.perf_counter()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "restart"], check=True
    )
    return time.perf_counter() - started


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def _verify(
    url: str, inbox: Inbox, export_dir: Path, campaign_id: int, tally: Tally
) -> dict[str, Any]:
    from workbench.data_access import ExportSource

    conn = await asyncpg.connect(url)
    try:
        short = await conn.fetch(
            "SELECT o.id FROM orders o WHERE o.status = 'paid' AND"
            " (SELECT coalesce(sum(quantity), 0) FROM order_line l WHERE l.order_id = o.id)"
            " <> (SELECT count(*) FROM ticket t JOIN order_line l ON t.order_line_id = l.id"
            "     WHERE l.order_id = o.id)"
        )
        web = await conn.fetch(
            "SELECT o.code, o.status, lower(c.email) AS email FROM orders o"
            " JOIN customer c ON c.id = o.customer_id WHERE o.channel = 'web'"
        )
        oversold = await conn.fetch(
            "SELECT date, sold, capacity FROM capacity WHERE sold + held > capacity"
        )
        recipients = await conn.fetch(
            "SELECT lower(c.email) AS email FROM mail_recipient r JOIN customer c ON"
            " c.id = r.customer_id WHERE r.campaign_id = $1",
            campaign_id,
        )
        unsent = await conn.fetchval("SELECT count(*) FROM outbox_message WHERE status <> 'sent'")
        counts = {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("orders", "ticket", "checkin")
        }
        checkins = await conn.fetchval(
            "SELECT count(*) FROM (SELECT ticket_id FROM checkin WHERE direction = 'entry'"
            " AND result = 'admitted' GROUP BY ticket_id HAVING count(*) > 1) twice"
        )
    finally:
        await conn.close()
    received = Counter(to for to, _subject, _id in inbox.messages)
    paid_web = [r for r in web if r["status"] == "paid"]
    confirmations = Counter(
        code
        for _to, subject, _id in inbox.messages
        for code in re.findall(r"[A-Z0-9-]{6,}", subject)
    )
    source = ExportSource(export_dir)
    exported = {
        table: int(source.sql(f"SELECT count(*) AS n FROM {view}")["n"][0])
        for table, view in (("orders", "orders"), ("ticket", "tickets"), ("checkin", "checkins"))
    }
    return {
        "paid orders missing tickets": len(short),
        "paid web orders": len(paid_web),
        "paid web orders without exactly one mail": sum(
            1 for r in paid_web if received[r["email"]] != 1
        ),
        "unpaid web orders that got a mail": sum(
            1 for r in web if r["status"] != "paid" and received[r["email"]]
        ),
        "campaign recipients": len(recipients),
        "campaign messages not received exactly once": sum(
            1 for r in recipients if received[r["email"]] != 1
        ),
        "duplicate Message-IDs": len(inbox.messages) - len({m[2] for m in inbox.messages}),
        "outbox not sent": unsent,
        "oversold capacity rows": len(oversold),
        "tickets admitted twice (database)": checkins,
        "tickets admitted twice (gate answers)": sum(1 for n in tally.admitted.values() if n > 1),
        "database rows": counts,
        "exported rows": exported,
        "rows missing from exports": {t: counts[t] - exported[t] for t in counts},
        "confirmation codes seen": len(confirmations),
    }


async def _run(seconds: float, campaign_size: int, restart_pg: bool) -> bool:
    name = f"kippu_soak_{os.getpid()}"
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{name}"')
    url = _db_url(name)
    work = Path(tempfile.mkdtemp(prefix="kippu-soak-"))
    settings = Settings(database_url=url, var_dir=work, secret_key=SECRET)
    await asyncio.to_thread(upgrade_database, settings)
    demo, keys = await _seed(settings, campaign_size)
    inbox = Inbox()
    smtp_port = _free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KIPPU_")},
        "KIPPU_DATABASE_URL": url,
        "KIPPU_SECRET_KEY": SECRET,
        "KIPPU_VAR_DIR": str(work),
        "KIPPU_EXPORT_DIR": str(work / "exports"),
        "KIPPU_SMTP_HOST": "127.0.0.1",
        "KIPPU_SMTP_PORT": str(smtp_port),
        "KIPPU_MAIL_LEASE_SECONDS": "20",
        "KIPPU_WORKER_STALLED_SECONDS": "10",
    }
    fleet = Fleet(env, work)
    env["KIPPU_BASE_URL"] = fleet.url(0)
    tally = Tally()
    today = facility_today("Asia/Tokyo")
    days = [today + dt.timedelta(days=d) for d in range(1, DATES + 1)]
    events: list[str] = []
    ok = False
    try:
        await _wait_ready(fleet)
        stop = asyncio.Event()
        loads = [
            *(
                asyncio.create_task(_web_buyer(fleet, demo, days, stop, tally, n))
                for n in range(WEB_BUYERS)
            ),
            *(
                asyncio.create_task(_kiosk_buyer(fleet, demo, days, stop, tally, n))
                for n in range(KIOSK_BUYERS)
            ),
            *(asyncio.create_task(_scanner(fleet, demo, stop, tally, n)) for n in range(SCANNERS)),
        ]
        started = time.monotonic()
        campaign_id = 0
        killed = pg_restarted = False
        while (elapsed := time.monotonic() - started) < seconds:
            await asyncio.sleep(0.5)
            if not campaign_id and elapsed > 0.15 * seconds:
                campaign_id = await _campaign(fleet, demo, keys, tally)
                events.append(f"{elapsed:.0f} s: campaign {campaign_id} to {len(keys)} customers")
            if not killed and elapsed > 0.3 * seconds:
                killed = True
                fleet.kill("worker", 0)
                fleet.kill("core", 0)
                events.append(f"{elapsed:.0f} s: SIGKILL worker 0 and core 0")
                await asyncio.sleep(3)
                fleet.resume("worker", 0)
                fleet.resume("core", 0)
                events.append(f"{time.monotonic() - started:.0f} s: both restarted")
            if restart_pg and not pg_restarted and elapsed > 0.6 * seconds:
                pg_restarted = True
                took = await asyncio.to_thread(_restart_postgres)
                events.append(f"{elapsed:.0f} s: PostgreSQL restarted ({took:.1f} s)")
            fleet.supervise()
        stop.set()
        for outcome in await asyncio.gather(*loads, return_exceptions=True):
            if isinstance(outcome, BaseException):  # a load loop broke: say how
                tally.errors[f"load loop {type(outcome).__name__}: {outcome}"] += 1
        load_seconds = time.monotonic() - started
        events.append(f"{load_seconds:.0f} s: load stopped")
        drained = await _drain(url, work / "exports", timeout=300)
        events.append(f"drained {drained:.0f} s after the load stopped")
        report = await _verify(url, inbox, work / "exports", campaign_id, tally)
        tally.restarts = fleet.restarts
        _print(tally, report, events, load_seconds)
        ok = (
            report["paid orders missing tickets"] == 0
            and report["paid web orders without exactly one mail"] == 0
            and report["unpaid web orders that got a mail"] == 0
            and report["campaign messages not received exactly once"] == 0
            and report["duplicate Message-IDs"] == 0
            and report["outbox not sent"] == 0
            and report["oversold capacity rows"] == 0
            and report["tickets admitted twice (database)"] == 0
            and all(v == 0 for v in report["rows missing from exports"].values())
        )
    finally:
        fleet.stop()
        smtp.stop()
        if ok:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept for a look: database {name}, logs and exports in {work}")
    return ok


async def _wait_ready(fleet: Fleet) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for i in range(CORES):
            for _ in range(300):
                try:
                    await client.get(fleet.url(i) + "/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"core {i} did not start")


async def _drain(url: str, export_dir: Path, timeout: float) -> float:
    """Seconds until the outbox is empty and two export periods have passed after it."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            conn = await asyncpg.connect(url)
            try:
                left = await conn.fetchval(
                    "SELECT count(*) FROM outbox_message WHERE status IN ('queued', 'sending')"
                )
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError):
            left = -1
        if left == 0:
            drained = time.monotonic() - started
            mark = time.time()
            stamp = export_dir / LAST_RUN_FILE
            # Two export periods (5 s each) that began after the last mail went out.
            while not stamp.exists() or stamp.stat().st_mtime < mark + 10:
                await asyncio.sleep(1)
                if time.monotonic() - started > timeout:
                    break
            return drained
        await asyncio.sleep(1)
    raise RuntimeError("the outbox did not drain")


def _print(tally: Tally, report: dict[str, Any], events: list[str], seconds: float) -> None:
    print(f"soak: {seconds:.0f} s, {CORES} cores, {WORKERS} workers", flush=True)
    for event in events:
        print(f"  {event}")
    print(
        f"  web paid {tally.web_paid} ({tally.web_paid / seconds:.1f}/s, p50"
        f" {1000 * _percentile(tally.web_latency, 0.5):.0f} ms, p99"
        f" {1000 * _percentile(tally.web_latency, 0.99):.0f} ms)"
    )
    print(
        f"  kiosk paid {tally.kiosk_paid} ({tally.kiosk_paid / seconds:.1f}/s, p50"
        f" {1000 * _percentile(tally.kiosk_latency, 0.5):.0f} ms, p99"
        f" {1000 * _percentile(tally.kiosk_latency, 0.99):.0f} ms), retries with the same key"
        f" {tally.kiosk_retries}, sold out answers {tally.sold_out}"
    )
    print(f"  gate scans {dict(tally.scans)}")
    print(
        f"  failed requests {dict(tally.errors)}; process restarts by the supervisor {tally.restarts}"
    )
    for key, value in report.items():
        print(f"  {key}: {value}")


def main() -> bool:
    seconds = float(os.environ.get("KIPPU_BENCH_SOAK_SECONDS", "180"))
    campaign = int(os.environ.get("KIPPU_BENCH_SOAK_CAMPAIGN", "600"))
    restart_pg = os.environ.get("KIPPU_BENCH_SOAK_PG_RESTART", "1") != "0"
    print(f"PostgreSQL at {ADMIN_URL}", flush=True)
    return asyncio.run(_run(seconds, campaign, restart_pg))
