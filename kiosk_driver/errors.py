"""The kiosk driver's exceptions, in one small tree so callers know what to catch.

::

    KioskError                      anything the driver raises on purpose
    ├── OutOfService                the kiosk cannot sell right now (show the 休止中 screen)
    │   ├── CoreUnavailable         network error, timeout or 5xx from the core
    │   │   └── UnexpectedAnswer    the core answered, but not in the contract's shape (a
    │   │                           core of another API version): treated as unreachable,
    │   │                           so a paid sale stays "paid", never voided blind
    │   ├── ConfirmationPending     paid at the terminal, core not reachable: the journal
    │   │                           keeps the sale and resume() confirms it later
    │   └── PaymentUnknown          the terminal stopped answering mid-payment: money may
    │                               have moved, so the sale stays "started" and resume()
    │                               asks the terminal (find) instead of guessing
    ├── CoreRefused                 the core answered 4xx; ``detail`` carries its message
    │   ├── Unauthorized            401/403: device token missing, wrong or revoked
    │   ├── EnrolmentRejected       400/404 on enrol: the one-time code is wrong or used
    │   ├── InvalidRequest          400/422: the sale itself is malformed
    │   └── OrderConflict           409: sold out, amount mismatch, a stale stay charge (void)
    ├── PaymentFailed               the terminal did not take the money
    │   ├── PaymentDeclined         card/e-money/QR refused
    │   ├── PaymentTimeout          the visitor walked away
    │   ├── PaymentCancelled        cancelled on the terminal or the screen
    │   └── TerminalUnavailable     the terminal is offline or errored
    ├── PrinterFault                printer offline or out of paper; the sale stays
    │                               "confirmed" in the journal and is printed on resume
    ├── JournalStateError           a sale transition asked for from the wrong state, or
    │                               replayed with other data (a bug, never a visitor's doing)
    └── ConfigError                 a KIPPU_KIOSK_* value cannot be understood
"""

from __future__ import annotations


class KioskError(Exception):
    """Base of every error the kiosk driver raises on purpose."""


class OutOfService(KioskError):
    """The kiosk cannot sell now; the UI shows the out-of-service screen."""


class CoreUnavailable(OutOfService):
    """The core could not be reached (connection error, timeout, 5xx)."""


class ConfirmationPending(OutOfService):
    """Payment was taken but the core could not confirm; resume() finishes the sale."""

    def __init__(self, sale_id: str, message: str = "confirmation pending") -> None:
        super().__init__(message)
        self.sale_id = sale_id


class UnexpectedAnswer(CoreUnavailable):
    """The core's answer does not decode into the contract's struct."""


class PaymentUnknown(OutOfService):
    """The terminal's answer was lost mid-payment; never treat this as "not charged"."""


class CoreRefused(KioskError):
    """The core answered with a 4xx status; ``detail`` is its explanation."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class Unauthorized(CoreRefused):
    """401/403: the device token is missing, wrong or revoked."""


class EnrolmentRejected(CoreRefused):
    """The enrolment code was refused."""


class InvalidRequest(CoreRefused):
    """400/422: the core considers the request malformed."""


class OrderConflict(CoreRefused):
    """409: sold out, amount mismatch or a stale stay charge; the terminal payment must be
    voided."""


class PaymentFailed(KioskError):
    """The terminal did not take the payment."""


class PaymentDeclined(PaymentFailed):
    """The card, IC card or QR wallet was declined."""


class PaymentTimeout(PaymentFailed):
    """Nobody presented a card in time."""


class PaymentCancelled(PaymentFailed):
    """The payment was cancelled on the terminal or on the screen."""


class TerminalUnavailable(PaymentFailed):
    """The payment terminal is offline or reported an error."""


class PrinterFault(KioskError):
    """The printer could not print (offline, paper out, cover open)."""


class JournalStateError(KioskError):
    """A sale transition was asked for from the wrong state (a bug, or a replay with other
    data, such as a second payment reference for one sale)."""


class ConfigError(KioskError):
    """A configuration value cannot be understood."""
