"""Many facilities, many managers: a source per page session against the shared store.

Part of ``python -m bench workbench`` (alone: ``KIPPU_BENCH_ONLY=facilities``). The
exports hold ``KIPPU_BENCH_FACILITIES`` (20) facilities: facility 1 at the sizes of the
page benchmark (``KIPPU_BENCH_CHECKINS``, ``KIPPU_BENCH_ORDERS``), the others at
``KIPPU_BENCH_SMALL_CHECKINS`` (500,000) and ``KIPPU_BENCH_SMALL_ORDERS`` (50,000). They
are generated once under ``KIPPU_BENCH_DIR`` (default ``var/bench``) and kept.

Each way runs in a process of its own, so that its peak RSS is its own:

- **per session** (before the shared store): every page session builds an
  ``ExportSource``, which reads every facility. One and three sessions are measured
  (facility 1 first): twenty would need twenty times the memory of one;
- **shared**: one :class:`workbench.shared_store.SharedStore`; every facility is opened
  once to warm the process, then ``KIPPU_BENCH_SESSIONS`` (20) page sessions across the
  facilities (attendance, every fifth one sales) open and tick on threads every
  ``KIPPU_BENCH_TICK`` seconds (5, the workbench's default refresh interval) for
  ``KIPPU_BENCH_SECONDS`` (60; per session: at most 20), while a new scan file of
  facility 1 is published every 5 seconds (removed afterwards).

Reported per way: first page load (building the page's state, warm process), page
refresh p50/p95 (ticks of all sessions, waiting for the lock included) and peak RSS.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bench.generate import FACILITY_ID, ID_STRIDE, generate
from kippu_contract.export_schema import PARTITION_BY, TABLES
from workbench.attendance import AttendanceState
from workbench.data_access import ExportSource
from workbench.sales import SalesState
from workbench.shared_store import SharedStore

FIRST_LOAD_BUDGET_S = 1.0
REFRESH_P95_BUDGET_MS = 300.0
RSS_RATIO_BUDGET = 2.0


def _env(name: str, default: int | float) -> float:
    return float(os.environ.get(name, default))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)] if ordered else 0.0


def prepare(exports: Path, today: dt.date) -> float:
    """Generate what is missing; returns the seconds it took (0 when all was kept)."""
    t0 = time.perf_counter()
    facilities = int(_env("KIPPU_BENCH_FACILITIES", 20))
    generate(
        exports,
        orders=int(_env("KIPPU_BENCH_ORDERS", 1_000_000)),
        checkins=int(_env("KIPPU_BENCH_CHECKINS", 10_000_000)),
        today=today,
    )
    for facility_id in range(2, facilities + 1):
        generate(
            exports,
            orders=int(_env("KIPPU_BENCH_SMALL_ORDERS", 50_000)),
            checkins=int(_env("KIPPU_BENCH_SMALL_CHECKINS", 500_000)),
            today=today,
            facility_id=facility_id,
        )
    return time.perf_counter() - t0


def _page(source: Any, facility_id: int, today: dt.date, kind: str) -> Callable[[], None]:
    """Build a page's state as the served page does; returns its periodic refresh."""
    if kind == "sales":
        sales = SalesState(
            source, facility_id=facility_id, date_from=today - dt.timedelta(days=29), date_to=today
        )
        return sales.refresh
    attendance = AttendanceState(source, facility_id=facility_id, date=today)
    return attendance.tick


def _kind(i: int) -> str:
    return "sales" if i % 5 == 4 else "attendance"


class _Publisher:
    """Publishes a file of 20 entry scans of facility 1 every ``every`` seconds."""

    def __init__(self, exports: Path, today: dt.date, every: float = 5.0) -> None:
        self.directory = exports / "checkins" / f"facility_id={FACILITY_ID}" / f"date={today}"
        self.today, self.every = today, every
        self.written: list[Path] = []
        self.stop = threading.Event()

    def run(self) -> None:
        schema = pa.schema([f for f in TABLES["checkins"].schema if f.name not in PARTITION_BY])
        scanned = dt.datetime.combine(self.today, dt.time(3), dt.UTC)
        i = 0
        while not self.stop.wait(self.every):
            rows = {
                "id": [ID_STRIDE - 1 - 100 * i - k for k in range(20)],
                "ticket_id": [2 * k for k in range(20)],
                "device_id": [1] * 20,
                "gate_name": ["Gate 1"] * 20,
                "direction": ["entry"] * 20,
                "result": ["admitted"] * 20,
                "reason": [""] * 20,
                "scanned_at": [scanned] * 20,
            }
            path = self.directory / f"live-shared-{i:04d}.parquet"
            tmp = path.with_suffix(".tmp")
            pq.write_table(pa.Table.from_pydict(rows, schema=schema), tmp)
            tmp.rename(path)  # published whole, as the exporter renames its files
            self.written.append(path)
            i += 1

    def clean(self) -> None:
        for path in self.written:
            path.unlink(missing_ok=True)


def _tick_sessions(refreshes: list[Callable[[], None]], tick: float, seconds: float) -> list[float]:
    """Every session's refresh every ``tick`` seconds on its own thread; latencies in ms."""
    samples: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def session(i: int, refresh: Callable[[], None]) -> None:
        next_at = time.perf_counter() + tick * i / len(refreshes)  # pages opened at odd times
        while True:
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            if time.perf_counter() > deadline:
                return
            t0 = time.perf_counter()
            refresh()
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                samples.append(elapsed)
            next_at += tick

    threads = [threading.Thread(target=session, args=(i, r)) for i, r in enumerate(refreshes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def run_shared(exports: Path, today: dt.date) -> dict[str, Any]:
    """The shared store: warm every facility, then the sessions open and tick."""
    facilities = int(_env("KIPPU_BENCH_FACILITIES", 20))
    sessions = int(_env("KIPPU_BENCH_SESSIONS", 20))
    store = SharedStore(exports, refresh_seconds=_env("KIPPU_BENCH_TICK", 5.0) / 5, background=True)
    t0 = time.perf_counter()
    for facility_id in range(1, facilities + 1):  # a manager of each signed in earlier
        warm = store.open(facility_id)
        _page(warm, facility_id, today, "attendance")
        _page(warm, facility_id, today, "sales")
    warm_s = time.perf_counter() - t0
    loads, refreshes = [], []
    for i in range(sessions):
        facility_id = 1 + i % facilities
        t0 = time.perf_counter()
        refreshes.append(_page(store.open(facility_id), facility_id, today, _kind(i)))
        loads.append(time.perf_counter() - t0)
    publisher = _Publisher(exports, today)
    writer = threading.Thread(target=publisher.run)
    writer.start()
    try:
        samples = _tick_sessions(
            refreshes, _env("KIPPU_BENCH_TICK", 5.0), _env("KIPPU_BENCH_SECONDS", 60)
        )
    finally:
        publisher.stop.set()
        writer.join()
        publisher.clean()
        store.stop()
    return {
        "way": "shared",
        "sessions": sessions,
        "warm_s": warm_s,
        "first_load_s": max(loads),
        "refresh_ms": samples,
        "peak_rss_mb": _peak_rss_mb(),
        "sources": store.sources_created,
        "connections": store.connections_opened,
        "published": len(publisher.written),
    }


def run_per_session(exports: Path, today: dt.date, sessions: int) -> dict[str, Any]:
    """As before the shared store: a source of its own per page session."""
    facilities = int(_env("KIPPU_BENCH_FACILITIES", 20))
    loads, refreshes = [], []
    for i in range(sessions):
        facility_id = 1 + i % facilities  # facility 1 (the big one) first
        t0 = time.perf_counter()
        refreshes.append(_page(ExportSource(exports), facility_id, today, _kind(i)))
        loads.append(time.perf_counter() - t0)
    samples = _tick_sessions(
        refreshes, _env("KIPPU_BENCH_TICK", 5.0), min(_env("KIPPU_BENCH_SECONDS", 60), 20)
    )
    return {
        "way": "per session",
        "sessions": sessions,
        "first_load_s": max(loads),
        "refresh_ms": samples,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _in_process(way: str, exports: Path, today: dt.date) -> dict[str, Any]:
    """Run one way in a fresh interpreter (its own peak RSS); its result."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.workbench_shared", way, str(exports), str(today)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    samples = result["refresh_ms"]
    print(
        f"{result['way']} x{result['sessions']}: first load {result['first_load_s']:.2f} s, "
        f"refresh p95 {_p95(samples):.0f} ms, peak RSS {result['peak_rss_mb']:,.0f} MB",
        flush=True,
    )
    return result


def main(root: Path) -> bool:
    """Both ways side by side; prints a Markdown table for ``docs/benchmarks.md``."""
    today = dt.date.today()
    exports = root / "exports"
    took = prepare(exports, today)
    print(f"facilities generated (or kept) in {took:.0f} s under {exports}", flush=True)
    ways = [_in_process(f"per-session:{n}", exports, today) for n in (1, 3)]
    ways.append(_in_process("shared", exports, today))
    baseline = ways[0]["peak_rss_mb"]
    print(
        "\n| way | sessions | first page load s | refresh p50 ms | refresh p95 ms | "
        "peak RSS MB |\n|---|---|---|---|---|---|"
    )
    for w in ways:
        print(
            f"| {w['way']} | {w['sessions']} | {w['first_load_s']:.2f} | "
            f"{statistics.median(w['refresh_ms']):.0f} | {_p95(w['refresh_ms']):.0f} | "
            f"{w['peak_rss_mb']:,.0f} |"
        )
    shared = ways[-1]
    print(
        f"(shared: warm-up of every facility {shared['warm_s']:.1f} s, "
        f"{len(shared['refresh_ms'])} refreshes, {shared['published']} scan files published, "
        f"{shared['sources']} source / {shared['connections']} connection)"
    )
    checks = {
        "first page load": shared["first_load_s"] <= FIRST_LOAD_BUDGET_S,
        "refresh p95": _p95(shared["refresh_ms"]) <= REFRESH_P95_BUDGET_MS,
        "peak RSS": shared["peak_rss_mb"] <= RSS_RATIO_BUDGET * baseline,
    }
    for name, ok in checks.items():
        print(f"{name}: {'ok' if ok else 'OVER'}")
    return all(checks.values())


if __name__ == "__main__":
    way, directory, day = sys.argv[1:4]
    if way == "shared":
        result = run_shared(Path(directory), dt.date.fromisoformat(day))
    else:
        result = run_per_session(
            Path(directory), dt.date.fromisoformat(day), int(way.split(":")[1])
        )
    print(json.dumps(result))
