"""The core and the workbench running for real, side by side, for browser tests.

The core runs under uvicorn in a thread with its background loop (exporting to Parquet,
delivering the outbox); the workbench is ``serve_workbench`` in a subprocess that knows
the exports and the core's URL only, never the database or its secret, as in production.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from core_service.app import create_app
from core_service.exports.exporter import seconds_since_last_run
from core_service.platform.settings import Settings
from tests.support import REPO_ROOT
from tests.support.live_server import free_port

#: The workbench process: its settings from argv (exports, port, core URL).
_WORKBENCH = (
    "import sys; from pathlib import Path; from workbench.settings import WorkbenchSettings;"
    "from workbench.app import serve_workbench;"
    "serve_workbench(WorkbenchSettings(export_dir=Path(sys.argv[1]), core_url=sys.argv[3],"
    " secret_key='browser-test-workbench', refresh_seconds=2), port=int(sys.argv[2]))"
)


@contextmanager
def core_and_workbench(settings: Settings, seconds: float = 60) -> Iterator[str]:
    """Serve the core at ``settings.base_url`` and a workbench beside it until the block
    ends; yields the workbench's URL once both answer (the core has exported once)."""
    assert settings.export_dir is not None
    core_port = int(settings.base_url.rsplit(":", 1)[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=core_port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    proc: subprocess.Popen[bytes] | None = None
    try:
        # The pages read what the core's background work exports (its first round, at start).
        deadline = time.monotonic() + seconds
        while seconds_since_last_run(settings.export_dir) is None:
            assert time.monotonic() < deadline, "the core did not export"
            time.sleep(0.2)
        wb_port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKBENCH,
                str(settings.export_dir),
                str(wb_port),
                settings.base_url,
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{wb_port}"
        deadline = time.monotonic() + seconds
        while True:
            try:
                httpx.get(f"{url}/login", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        "workbench did not start:\n"
                        + (proc.stdout.read().decode() if proc.stdout else "")
                    )
                time.sleep(0.3)
        yield url
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            if proc.stdout is not None:
                proc.stdout.close()
        server.should_exit = True
        thread.join(timeout=15)
