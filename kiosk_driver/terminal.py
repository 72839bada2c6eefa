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
"""

from __future__ import annotations

import threading
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from .errors import (
    ConfigError,
    PaymentCancelled,
    PaymentDeclined,
    PaymentFailed,
    PaymentTimeout,
    TerminalUnavailable,
)

Method = Literal["card", "emoney", "qr"]
Outcome = Literal["approve", "decline", "timeout", "cancel", "offline"]


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
    def void(self, reference: str) -> None:
        """Reverse an approved payment; raises TerminalUnavailable if it cannot."""

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
    first (e.g. ``["decline", "approve"]``). Approved and voided payments are kept so tests
    can assert on them.
    """

    outcome: Outcome = "approve"
    script: deque[Outcome] = field(default_factory=deque)
    approved: dict[str, PaymentResult] = field(default_factory=dict)  # by idempotency key
    voided: list[str] = field(default_factory=list)
    void_fails: bool = False
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def queue(self, outcomes: Iterable[Outcome]) -> None:
        self.script.extend(outcomes)

    def charge(self, amount: int, method: str, idempotency_key: str) -> PaymentResult:
        if idempotency_key in self.approved:  # a retried charge must not charge twice
            return self.approved[idempotency_key]
        if amount <= 0:
            raise PaymentFailed(f"nothing to charge: {amount}")
        outcome = self.script.popleft() if self.script else self.outcome
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
        return result

    def cancel(self) -> None:
        self._cancel.set()

    def void(self, reference: str) -> None:
        if self.void_fails:
            raise TerminalUnavailable("void failed")
        if reference not in {r.reference for r in self.approved.values()}:
            raise PaymentFailed(f"unknown payment {reference}")
        self.voided.append(reference)

    def find(self, idempotency_key: str) -> PaymentResult | None:
        return self.approved.get(idempotency_key)

    def status(self) -> Literal["ok", "offline"]:
        return "offline" if self.outcome == "offline" else "ok"


def _simulated(arg: str) -> PaymentTerminal:
    outcome = arg or "approve"
    if outcome not in ("approve", "decline", "timeout", "cancel", "offline"):
        raise ConfigError(f"simulated terminal outcome {outcome!r} is not known")
    return SimulatedTerminal(outcome=outcome)  # type: ignore[arg-type]


# Adapters by spec prefix: "simulated", "simulated:decline". A real adapter adds an entry.
TERMINALS: dict[str, Callable[[str], PaymentTerminal]] = {"simulated": _simulated}


def open_terminal(spec: str) -> PaymentTerminal:
    """Build a terminal from ``KIPPU_KIOSK_TERMINAL`` (``kind[:argument]``)."""
    kind, _, arg = spec.partition(":")
    try:
        factory = TERMINALS[kind]
    except KeyError:
        raise ConfigError(f"unknown terminal {kind!r} (known: {', '.join(TERMINALS)})") from None
    return factory(arg)
