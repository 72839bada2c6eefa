"""Payment terminals: the interface the sale flow uses, and a simulated terminal.

A real terminal (a cloud API such as Square Terminal, or a serial/LAN device from a
Japanese acquirer) is a new subclass of :class:`PaymentTerminal` registered in
:data:`TERMINALS`; the sale flow does not change. The contract every adapter keeps:

- ``charge`` blocks until the visitor has paid or the attempt ended, and raises a
  :class:`~kiosk_driver.errors.PaymentFailed` subclass when no money was taken.
- ``charge`` is idempotent per ``idempotency_key`` where the terminal allows it, and
  ``find`` answers "did the attempt with this key go through?" so a kiosk that crashed
  mid-payment can tell, on restart, whether the visitor was charged.
- ``void`` reverses an approved payment (same-day cancel, or refund after settlement).
- If the terminal stops answering after the visitor may have paid, ``charge`` raises
  :class:`~kiosk_driver.errors.PaymentUnknown` (never a ``PaymentFailed``), so the sale is
  not written off while money may have moved; ``find`` settles it later.

Adapters: ``simulated`` (here) and ``square`` (:mod:`kiosk_driver.terminals.square`).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from kiosk_driver.errors import (
    ConfigError,
    PaymentCancelled,
    PaymentDeclined,
    PaymentFailed,
    PaymentTimeout,
    PaymentUnknown,
    TerminalUnavailable,
)

Method = Literal["card", "emoney", "qr"]
# "lost": the terminal approves, then the connection drops before the kiosk hears it.
Outcome = Literal["approve", "decline", "timeout", "cancel", "offline", "lost"]
OUTCOMES = ("approve", "decline", "timeout", "cancel", "offline", "lost")


@dataclass(frozen=True)
class PaymentResult:
    """An approved payment."""

    reference: str  # the terminal's approval id; sent to the core and used to void
    amount: int
    method: str
    approved_at: datetime


class PaymentTerminal(ABC):
    """What the sale flow needs from a payment terminal."""

    @abstractmethod
    def charge(self, amount: int, method: str, idempotency_key: str) -> PaymentResult:
        """Take ``amount`` yen by ``method``; block until approved or raise PaymentFailed."""

    @abstractmethod
    def cancel(self) -> None:
        """Abort the payment in progress (the visitor pressed Cancel on the screen)."""

    @abstractmethod
    def void(self, reference: str, amount: int | None = None) -> None:
        """Reverse an approved payment (``amount`` yen, default all); PaymentFailed if not."""

    @abstractmethod
    def find(self, idempotency_key: str) -> PaymentResult | None:
        """The approved payment for a key, or None if that attempt took no money."""

    def status(self) -> Literal["ok", "offline"]:
        """Health for the heartbeat."""
        return "ok"


@dataclass
class SimulatedTerminal(PaymentTerminal):
    """A terminal for demos and tests.

    ``outcome`` is what every charge does; ``script`` queues outcomes for the next charges
    first (e.g. ``["decline", "approve"]``). ``delay`` seconds pass before the outcome, and
    a cancel during them wins (like a visitor pressing Cancel while the terminal waits).
    With ``state_path``, approved and voided payments are kept in a JSON file, so a kiosk
    restarted after a crash can ask ``find`` about a payment the old process took.
    """

    outcome: Outcome = "approve"
    script: deque[Outcome] = field(default_factory=deque)
    approved: dict[str, PaymentResult] = field(default_factory=dict)  # by idempotency key
    voided: list[str] = field(default_factory=list)
    void_fails: bool = False
    delay: float = 0.0
    state_path: Path | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        if self.state_path is not None and self.state_path.exists():
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            self.approved = {
                key: PaymentResult(
                    r["reference"], r["amount"], r["method"], datetime.fromisoformat(r["at"])
                )
                for key, r in data.get("approved", {}).items()
            }
            self.voided = list(data.get("voided", []))

    def _save(self) -> None:
        if self.state_path is None:
            return
        data = {
            "approved": {
                key: {
                    "reference": r.reference,
                    "amount": r.amount,
                    "method": r.method,
                    "at": r.approved_at.isoformat(),
                }
                for key, r in self.approved.items()
            },
            "voided": self.voided,
        }
        # Write-then-rename so a crash mid-write never leaves half a file.
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def queue(self, outcomes: Iterable[Outcome]) -> None:
        self.script.extend(outcomes)

    def charge(self, amount: int, method: str, idempotency_key: str) -> PaymentResult:
        if idempotency_key in self.approved:  # a retried charge must not charge twice
            return self.approved[idempotency_key]
        if amount <= 0:
            raise PaymentFailed(f"nothing to charge: {amount}")
        outcome = self.script.popleft() if self.script else self.outcome
        if self.delay and outcome not in ("offline",):
            self._cancel.wait(self.delay)
        if self._cancel.is_set():
            outcome = "cancel"
        self._cancel.clear()
        if outcome == "decline":
            raise PaymentDeclined(f"{method} declined")
        if outcome == "timeout":
            raise PaymentTimeout("no card presented")
        if outcome == "cancel":
            raise PaymentCancelled("cancelled")
        if outcome == "offline":
            raise TerminalUnavailable("terminal offline")
        result = PaymentResult(
            reference=f"SIM-{uuid.uuid4().hex[:12].upper()}",
            amount=amount,
            method=method,
            approved_at=self.clock(),
        )
        self.approved[idempotency_key] = result
        self._save()
        if outcome == "lost":
            raise PaymentUnknown("terminal approved, then the connection dropped")
        return result

    def cancel(self) -> None:
        self._cancel.set()

    def void(self, reference: str, amount: int | None = None) -> None:
        if self.void_fails:
            raise TerminalUnavailable("void failed")
        if reference not in {r.reference for r in self.approved.values()}:
            raise PaymentFailed(f"unknown payment {reference}")
        if reference not in self.voided:  # voiding twice must not refund twice
            self.voided.append(reference)
            self._save()

    def find(self, idempotency_key: str) -> PaymentResult | None:
        return self.approved.get(idempotency_key)

    def status(self) -> Literal["ok", "offline"]:
        return "offline" if self.outcome == "offline" else "ok"


def _simulated(arg: str, options: Mapping[str, str]) -> PaymentTerminal:
    """``simulated[:outcome]``; options SIM_DELAY (seconds) and SIM_STATE (a JSON file)."""
    outcome = arg or "approve"
    if outcome not in OUTCOMES:
        raise ConfigError(f"simulated terminal outcome {outcome!r} is not known")
    try:
        delay = float(options.get("SIM_DELAY", "0") or 0)
    except ValueError as exc:
        raise ConfigError("KIPPU_KIOSK_SIM_DELAY must be a number of seconds") from exc
    state = options.get("SIM_STATE")
    return SimulatedTerminal(
        outcome=outcome,  # type: ignore[arg-type]
        delay=delay,
        state_path=Path(state) if state else None,
    )


def _square(arg: str, options: Mapping[str, str]) -> PaymentTerminal:
    from kiosk_driver.terminals.square import from_options  # keeps httpx details out of this module

    return from_options(arg, options)


# Adapters by spec prefix: "simulated", "simulated:decline", "square:DEVICE_ID". Options
# are the KIPPU_KIOSK_* variables the config does not know itself (KioskConfig.extra).
TERMINALS: dict[str, Callable[[str, Mapping[str, str]], PaymentTerminal]] = {
    "simulated": _simulated,
    "square": _square,
}


def open_terminal(spec: str, options: Mapping[str, str] | None = None) -> PaymentTerminal:
    """Build a terminal from ``KIPPU_KIOSK_TERMINAL`` (``kind[:argument]``)."""
    kind, _, arg = spec.partition(":")
    try:
        factory = TERMINALS[kind]
    except KeyError:
        raise ConfigError(f"unknown terminal {kind!r} (known: {', '.join(TERMINALS)})") from None
    return factory(arg, options or {})
