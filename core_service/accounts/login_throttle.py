"""Pausing password logins after repeated failures, for staff and customers alike.

Failure times live on the account's own row (a short JSON list), not in process memory,
so every worker behind a load balancer sees the same count. After MAX_FAILURES failures
within WINDOW_SECONDS the account's password login pauses until the oldest of them is
WINDOW_SECONDS old; refused attempts are not recorded and do not prolong the pause.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60


def recent_failures(stamps: Sequence[Any] | None, now: float) -> list[float]:
    return [float(t) for t in stamps or [] if now - float(t) < WINDOW_SECONDS]


def throttled(stamps: Sequence[Any] | None, now: float) -> bool:
    return len(recent_failures(stamps, now)) >= MAX_FAILURES


def with_failure(stamps: Sequence[Any] | None, now: float) -> list[float]:
    """The list to store after one more failure (only the newest MAX_FAILURES kept)."""
    return [*recent_failures(stamps, now), now][-MAX_FAILURES:]
