"""Request and response shapes of the kiosk API that only the kiosk domain uses.

The heartbeat is lenient on purpose: an older driver that sends fewer fields, or a newer
one that sends more, must still be heard, because a silent kiosk is worse than a
partially described one.
"""

from __future__ import annotations

from typing import Any

import msgspec


class KioskHeartbeatIn(msgspec.Struct):
    printer: str = "unknown"  # ok / offline / paper_out / cover_open / unknown
    paper: str = "unknown"  # ok / near_end / out / unknown
    terminal: str = "unknown"  # ok / offline / unknown
    last_sale_at: str | None = None
    version: str = ""
    #: Why the kiosk is not selling right now (None while it sells).
    out_of_service: str | None = None
    #: Sales waiting for the core (paid) or the printer (confirmed), and refunds staff owe.
    unconfirmed: int = 0
    unprinted: int = 0
    void_failed: int = 0


class StaffCallIn(msgspec.Struct):
    reason: str = "visitor"  # visitor / printer / payment / ...
    detail: str = ""


class StaffCallOut(msgspec.Struct):
    open: bool
    reason: str
    detail: str
    at: str
    closed_at: str | None = None


def open_call(status: dict[str, Any]) -> StaffCallOut | None:
    """The device's open staff call, if any (kept in ``Device.status["staff_call"]``)."""
    call = status.get("staff_call")
    if not isinstance(call, dict) or not call.get("open"):
        return None
    return msgspec.convert(call, StaffCallOut)
