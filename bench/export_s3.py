"""Exports into an S3-compatible store, for information: moto's server on loopback.

``python -m bench export_s3`` (moto comes with the ``test`` extra). The database of the
export throughput benchmark (``bench.workbench``: ``KIPPU_BENCH_EXPORT_ROWS`` check-ins,
200,000) is exported by ``run_export`` into a new local directory and into a new prefix
of a bucket, alternating, ``KIPPU_BENCH_EXPORT_ROUNDS`` (3) times each; then the
workbench's ``ExportSource`` reads the check-ins back from each (a first load, which
lists the store and reads every file through DuckDB's fsspec hook).

moto keeps objects in memory and answers in Python in this very process, on the same two
cores: the figures say what kippu's side of a store costs (uploads, listings, requests),
not how fast a real store is. There is no target.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.fs as pafs

from bench.workbench import _env, _seed_sqlite, _warm_up
from core_service.exports import run_export
from core_service.exports.storage import export_store
from core_service.platform.settings import Settings
from workbench.data_access import ExportSource

BUCKET = "kippu-bench"


def _timed(work: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def _read_checkins(settings: Settings, rows: int) -> None:
    source = ExportSource(export_store(settings))
    counted = source.sql("SELECT count(*) AS n FROM checkins_log")["n"][0]
    assert counted == rows, counted


def bench_export_s3(root: Path, endpoint: str, rows: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per round: export into a directory and a bucket, and reading each back."""
    db = _seed_sqlite(root, rows)
    _warm_up()
    pafs.S3FileSystem(endpoint_override=endpoint, allow_bucket_creation=True).create_dir(BUCKET)
    base = Settings(database_url=f"sqlite:///{db}", var_dir=root, s3_endpoint_url=endpoint)
    times: dict[str, list[float]] = {"local": [], "s3": [], "read local": [], "read s3": []}
    for n in range(rounds):
        targets = {
            "local": dataclasses.replace(base, export_dir=root / f"export-{n}"),
            "s3": dataclasses.replace(base, export_url=f"s3://{BUCKET}/export-{n}"),
        }
        for name, settings in targets.items():
            times[name].append(_timed(functools.partial(run_export, settings)))
            times[f"read {name}"].append(_timed(functools.partial(_read_checkins, settings, rows)))
    return times


def main() -> bool:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("moto is not installed (pip install -e '.[test]'): skipped")
        return True
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        os.environ.setdefault(key, value)
    rows = _env("KIPPU_BENCH_EXPORT_ROWS", 200_000)
    rounds = _env("KIPPU_BENCH_EXPORT_ROUNDS", 3)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with tempfile.TemporaryDirectory(prefix="kippu-bench-s3-") as tmp:
            times = bench_export_s3(Path(tmp), f"http://{host}:{port}", rows, rounds)
    finally:
        server.stop()
    print(f"\n{rows:,} check-ins, median of {rounds} rounds (moto on loopback, in process):")
    for name, samples in times.items():
        median = statistics.median(samples)
        rate = f"{rows / median:,.0f} rows/s" if not name.startswith("read") else ""
        print(f"  {name:<11} {median:6.2f} s  {rate}")
    return True
