"""Shared set-up of real-browser tests: Debian's chromium driven through Playwright.

Playwright's own browser download cannot work without internet, so the distribution's
chromium is used (installed by ``make test`` as root). Without it browser tests skip
locally with the reason; with ``CI=true`` they fail instead, because CI must run them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
#: As root in a sandbox without GPU or network: the flags chromium needs to start quietly.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if IN_CI:
        pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests (apt install chromium)")
    pytest.skip(f"{CHROMIUM} is missing (apt install chromium); set CI=true to make this fail")


def launch_chromium(playwright: Any, **options: Any) -> Any:
    """A headless chromium from a (sync or async) Playwright instance."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True, **options
    )
