"""Kiosk benchmark: time from terminal approval to the first byte at the printer.

``python -m bench kiosk_print`` runs the core under uvicorn in a subprocess on loopback
(SQLite in a temporary directory, seeded with the demo park), builds a kiosk driver with
the simulated terminal and an in-memory ESC/POS printer, and sells one day ticket at a
time. For each sale it records when the terminal approved (the moment
``PaymentTerminal.charge`` returns) and when the first byte reached the printer; between
the two lie the journal write, the confirmation over HTTP (order, tickets, signatures)
and the ticket layout. It also reports the bytes sent to the printer per ticket.

Target (issue 5): median at most 150 ms. Sizes: ``KIPPU_BENCH_KIOSK_SALES`` (default 200)
after ``KIPPU_BENCH_KIOSK_WARMUP`` (default 10) unmeasured sales.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from core_service.demo.data import seed_demo_facility
from core_service.platform.database import make_engine, make_sessionmaker, upgrade_database
from core_service.platform.settings import Settings
from kiosk_driver.config import KioskConfig, open_printer
from kiosk_driver.runtime import build_kiosk
from kiosk_driver.terminal import PaymentResult, SimulatedTerminal
from kippu_contract.v1.kiosk import OrderLineIn

TARGET_MEDIAN_MS = 150.0
PORT = 8391


@dataclass
class Clock:
    """When the terminal approved and when the printer got its first byte, per sale."""

    approved: float | None = None
    first_byte: float | None = None
    printed_bytes: int = 0
    samples_ms: list[float] = field(default_factory=list)

    def reset(self) -> None:
        self.approved = self.first_byte = None


class TimedTerminal(SimulatedTerminal):
    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock

    def charge(self, amount: int, method: str, idempotency_key: str) -> PaymentResult:
        result = super().charge(amount, method, idempotency_key)
        self._clock.approved = time.perf_counter()
        return result


async def _seed(settings: Settings) -> tuple[str, int]:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            demo = await seed_demo_facility(session, settings.secret_key, daily_capacity=100_000)
    finally:
        await engine.dispose()
    return demo.kiosk_token, demo.adult_category_id


def _start_core(settings: Settings) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        {
            "KIPPU_DATABASE_URL": settings.database_url,
            "KIPPU_VAR_DIR": str(settings.var_dir),
            "KIPPU_SECRET_KEY": settings.secret_key,
        }
    )
    core = subprocess.Popen(
        [sys.executable, "-m", "kippu_cli", "serve", "--port", str(PORT)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/healthz", timeout=1).status_code == 200:
                return core
        except httpx.HTTPError:
            time.sleep(0.2)
    core.kill()
    raise RuntimeError("the core did not start")


def run(sales: int, warmup: int) -> tuple[list[float], float]:
    """Latencies in ms of ``sales`` measured sales, and printer bytes per ticket."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(var_dir=Path(tmp), secret_key="bench-kiosk-print")
        upgrade_database(settings)
        token, category = asyncio.run(_seed(settings))
        core = _start_core(settings)
        try:
            clock = Clock()
            config = KioskConfig(
                core_url=f"http://127.0.0.1:{PORT}",
                token=token,
                token_file=Path(tmp) / "kiosk-token",
                journal_path=Path(tmp) / "journal.sqlite3",
                printer="memory",
            )
            printer = open_printer("memory", config.printer_profile())
            send = printer._raw  # python-escpos funnels every byte through _raw

            def timed_raw(data: bytes) -> None:
                if clock.first_byte is None:
                    clock.first_byte = time.perf_counter()
                clock.printed_bytes += len(data)
                send(data)

            printer._raw = timed_raw  # type: ignore[method-assign]
            kiosk = build_kiosk(config, terminal=TimedTerminal(clock), printer=printer)
            answers = {"consent_waiver": True}
            for i in range(warmup + sales):
                clock.reset()
                if i == warmup:
                    clock.printed_bytes = 0
                kiosk.sell([OrderLineIn(category, 1)], "card", answers, "ja")
                printer.clear()  # keep the in-memory printer from growing without bound
                if i >= warmup:
                    assert clock.approved is not None and clock.first_byte is not None
                    clock.samples_ms.append((clock.first_byte - clock.approved) * 1000)
            return clock.samples_ms, clock.printed_bytes / sales
        finally:
            core.terminate()
            core.wait(timeout=15)


def main() -> bool:
    sales = int(os.environ.get("KIPPU_BENCH_KIOSK_SALES", "200"))
    warmup = int(os.environ.get("KIPPU_BENCH_KIOSK_WARMUP", "10"))
    samples, bytes_per_ticket = run(sales, warmup)
    median = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[18]
    print(
        f"approval -> first printer byte over {sales} sales: median {median:.1f} ms, "
        f"p95 {p95:.1f} ms, max {max(samples):.1f} ms (target median <= {TARGET_MEDIAN_MS:.0f} ms); "
        f"{bytes_per_ticket:.0f} bytes per ticket"
    )
    return median <= TARGET_MEDIAN_MS


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
