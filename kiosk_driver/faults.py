"""A fault-injecting printer for demos, tests and staff training.

:class:`FaultyPrinter` is a python-escpos ``Dummy`` that answers the real-time status
queries (``DLE EOT 1/2/4``) like an Epson printer would, and can be told to run out of
paper, open its cover or go offline, at once or after N more bytes (in the middle of a
ticket). While a fault is set, every write raises ``OSError`` as a real connection
would, and the status queries report it, so the driver's wait-and-resume path is the
same one it takes with real hardware.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from escpos.printer import Dummy

Fault = Literal["paper_out", "cover_open", "offline"]


class FaultyPrinter(Dummy):  # type: ignore[misc]  # escpos is untyped
    """A memory printer with switchable faults; ``output`` holds what really printed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fault: Fault | None = None
        self._armed: tuple[int, Fault] | None = None  # (bytes left, fault to raise)
        self._pending_status = b""
        self._lock = threading.Lock()

    def inject(self, fault: Fault, after_bytes: int | None = None) -> None:
        """Raise ``fault`` now, or once ``after_bytes`` more bytes have printed."""
        with self._lock:
            if after_bytes is None:
                self.fault = fault
            else:
                self._armed = (after_bytes, fault)

    def clear(self) -> None:
        """Staff fixed it (new paper roll, cover closed, cable back)."""
        with self._lock:
            self.fault, self._armed = None, None

    def _raw(self, msg: bytes) -> None:
        if msg.startswith(b"\x10\x04"):  # a status query: answer it, print nothing
            self._pending_status = self._status(msg[2:3])
            return
        with self._lock:
            if self.fault is None and self._armed is not None:
                left, fault = self._armed
                if len(msg) >= left:
                    super()._raw(msg[:left])  # the part that made it onto the paper
                    self.fault, self._armed = fault, None
                else:
                    self._armed = (left - len(msg), fault)
            if self.fault is not None:
                raise OSError(f"printer fault: {self.fault}")
        super()._raw(msg)

    def _read(self) -> bytes:
        status, self._pending_status = self._pending_status, b""
        return status

    def _status(self, n: bytes) -> bytes:
        fault = self.fault
        if n == b"\x01":  # printer status: bit 3 = offline
            return bytes([0x16 | (0x08 if fault else 0)])
        if n == b"\x02":  # offline cause: bit 2 cover open, bit 5 paper end stop
            return bytes([0x12 | {"cover_open": 0x04, "paper_out": 0x20}.get(fault or "", 0)])
        if n == b"\x04":  # roll paper sensor: 0x72 (all bits of RT_MASK_NOPAPER) = no paper
            return bytes([0x72 if fault == "paper_out" else 0x12])
        return b""
