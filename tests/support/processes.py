"""Starting kippu's own commands as real processes, as a deployment starts them.

Tests that kill a worker or run several core processes need separate processes, not
threads: ``kippu serve`` and ``kippu worker`` here are the console script the package
installs, with settings given as ``KIPPU_*`` variables only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from core_service.platform.settings import Settings

KIPPU = Path(sys.executable).with_name("kippu")


def settings_environment(settings: Settings, **extra: object) -> dict[str, str]:
    """The environment of a kippu process that uses ``settings`` (plus ``extra``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPPU_")}
    env.update(
        KIPPU_DATABASE_URL=settings.database_url,
        KIPPU_SECRET_KEY=settings.secret_key,
        KIPPU_VAR_DIR=os.fspath(settings.var_dir),
        KIPPU_EXPORT_INTERVAL_SECONDS=str(settings.export_interval_seconds),
    )
    env.update({f"KIPPU_{k.upper()}": str(v) for k, v in extra.items()})
    return env


def start(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``kippu <args>`` in its own process group, output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [os.fspath(KIPPU), *args],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill(process: subprocess.Popen[bytes]) -> None:
    """kill -9: no cleanup, as a power cut or the OOM killer."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM (a graceful stop), then the exit status; SIGKILL if it will not stop."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(process)
    return process.returncode


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until ``url`` answers (any status) or the process died."""

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=2)
        except httpx.TransportError:
            return False
        return True

    wait_for(answers, timeout, f"{url} to answer")
