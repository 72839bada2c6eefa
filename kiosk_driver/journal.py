"""The kiosk's local sale journal (SQLite), so a crash never loses a sale or double-charges.

Each sale is one row keyed by its idempotency key (also sent to the terminal and to the
core, so every retry is recognised as the same sale). Its state
(:class:`~kiosk_driver.sale_state.SaleState`) only moves forward, along
:data:`~kiosk_driver.sale_state.TRANSITIONS`; there is one method here per transition,
named like it, and each checks the current state inside its transaction. Asked again for
a step the sale has already taken (a retry, a replay after a restart) it changes nothing
and returns False; asked from any other state it raises JournalStateError. Every
transition is also appended to ``sale_events`` for the staff screen and for support.

The core's confirmation is kept as JSON (see :mod:`kiosk_driver.journal_format`).

Pass holders' photos travel in the sale's request only as long as the core may still
need them (``started`` and ``paid``): every later transition blanks them in the same
transaction, and ``secure_delete`` overwrites the old page, so a kiosk PC keeps no
visitor's face once the sale is over.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk_driver.errors import JournalStateError
from kiosk_driver.journal_format import encode_confirmation
from kiosk_driver.sale_state import TRANSITIONS, SaleState, Transition, check
from kippu_contract.v1.kiosk import KioskOrderOut

SCHEMA = """
CREATE TABLE IF NOT EXISTS sales (
    id TEXT PRIMARY KEY,              -- idempotency key (uuid4)
    state TEXT NOT NULL,
    request TEXT NOT NULL,            -- lines, answers, method, amount, locale (json)
    payment_ref TEXT,
    order_code TEXT,
    confirmation TEXT,                -- the core's answer (json): order, tickets, facility
    receipt_printed_at TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sales_state ON sales(state);
-- One row per printed ticket: "started" is written before the first byte goes to the
-- printer and "done" after the job; a ticket found "started" was maybe half printed, so
-- its next copy must carry the reprint mark.
CREATE TABLE IF NOT EXISTS ticket_prints (
    sale_id TEXT NOT NULL REFERENCES sales(id),
    ticket_id TEXT NOT NULL,
    state TEXT NOT NULL,              -- started / done
    copies INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (sale_id, ticket_id)
);
CREATE TABLE IF NOT EXISTS sale_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sale_id TEXT NOT NULL REFERENCES sales(id),
    state TEXT NOT NULL,
    detail TEXT,
    at TEXT NOT NULL
);
"""

__all__ = ["Journal", "JournalStateError", "SaleRecord"]


@dataclass(frozen=True)
class SaleRecord:
    """One sale as the journal holds it; ``confirmation`` is the stored JSON (decode it
    with :func:`kiosk_driver.journal_format.decode_confirmation`)."""

    id: str
    state: SaleState
    request: dict[str, Any]
    payment_ref: str | None
    order_code: str | None
    confirmation: dict[str, Any] | None
    receipt_printed_at: str | None
    error: str | None
    created_at: str
    updated_at: str


#: States in which the core may still be sent the order, holder photos and all.
_KEEPS_PHOTOS = (SaleState.STARTED, SaleState.PAID)


def without_photos(request_json: str) -> str:
    """The journalled request with every holder photo blanked (names and dates stay)."""
    request = json.loads(request_json)
    for line in request.get("lines", []):
        for holder in line.get("holders", []):
            holder["photo"] = ""
    return json.dumps(request)


class Journal:
    """A tiny state store; thread-safe because the UI and the heartbeat share it."""

    def __init__(
        self, path: Path | str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves around each transition.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a paid sale must survive a power cut
        # Blanked holder photos must not survive in freed pages of the file.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _now(self) -> str:
        return self._clock().isoformat()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _event(self, db: sqlite3.Connection, sale_id: str, state: str, detail: str | None) -> None:
        db.execute(
            "INSERT INTO sale_events (sale_id, state, detail, at) VALUES (?, ?, ?, ?)",
            (sale_id, state, detail, self._now()),
        )

    def _move(
        self,
        sale_id: str,
        transition: Transition,
        detail: str | None = None,
        *,
        same: dict[str, str] | None = None,
        **fields: Any,
    ) -> bool:
        """Take ``transition``; False if the sale had taken it already.

        ``same`` names the columns a replay must match (the payment reference of "paid",
        the order code of "confirmed"): the same step with other data is not a retry.
        """
        with self._tx() as db:
            row = db.execute("SELECT * FROM sales WHERE id = ?", (sale_id,)).fetchone()
            if row is None:
                raise JournalStateError(f"no sale {sale_id}")
            if not check(transition, SaleState(row["state"]), sale_id):
                for column, value in (same or {}).items():
                    if row[column] != value:
                        raise JournalStateError(
                            f"sale {sale_id} is {transition.target} with {column} "
                            f"{row[column]!r}, not {value!r}"
                        )
                return False
            if transition.target not in _KEEPS_PHOTOS:
                fields["request"] = without_photos(row["request"])
            assignments = "".join(f", {name} = ?" for name in fields)
            db.execute(
                f"UPDATE sales SET state = ?, updated_at = ?{assignments} WHERE id = ?",
                (transition.target, self._now(), *fields.values(), sale_id),
            )
            self._event(db, sale_id, transition.target, detail)
        return True

    # -- transitions (one per entry of sale_state.TRANSITIONS) ----------------------------

    def start(self, request: dict[str, Any], sale_id: str | None = None) -> str:
        """Record a new sale before any money moves; returns its idempotency key."""
        sale_id = sale_id or str(uuid.uuid4())
        now = self._now()
        with self._tx() as db:
            db.execute(
                "INSERT INTO sales (id, state, request, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (sale_id, SaleState.STARTED, json.dumps(request), now, now),
            )
            self._event(db, sale_id, SaleState.STARTED, None)
        return sale_id

    def paid(self, sale_id: str, payment_ref: str) -> bool:
        """The terminal approved the payment ``payment_ref``."""
        return self._move(
            sale_id,
            TRANSITIONS["paid"],
            payment_ref,
            same={"payment_ref": payment_ref},
            payment_ref=payment_ref,
        )

    def confirmed(self, sale_id: str, answer: KioskOrderOut) -> bool:
        """The core created the order; ``answer`` is kept for printing and receipts."""
        code = answer.order.code
        return self._move(
            sale_id,
            TRANSITIONS["confirmed"],
            code,
            same={"order_code": code},
            order_code=code,
            confirmation=json.dumps(encode_confirmation(answer)),
        )

    def printed(self, sale_id: str) -> bool:
        """Every ticket of the sale is on paper."""
        return self._move(sale_id, TRANSITIONS["printed"])

    def failed(self, sale_id: str, reason: str) -> bool:
        """The terminal took no money; nothing more to do."""
        return self._move(sale_id, TRANSITIONS["failed"], reason, error=reason)

    def voided(self, sale_id: str, reason: str) -> bool:
        """The core refused and the payment was reversed at the terminal."""
        return self._move(sale_id, TRANSITIONS["voided"], reason, error=reason)

    def void_failed(self, sale_id: str, reason: str) -> bool:
        """The core refused and the reversal failed: staff must refund by hand."""
        return self._move(sale_id, TRANSITIONS["void_failed"], reason, error=reason)

    # -- what is printed, beside the state ------------------------------------------------

    def receipt_printed(self, sale_id: str) -> bool:
        """The sale's one receipt is printed; False if it was already (nothing changes)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT state, receipt_printed_at FROM sales WHERE id = ?", (sale_id,)
            ).fetchone()
            if row is None or row["state"] not in (SaleState.CONFIRMED, SaleState.PRINTED):
                raise JournalStateError(f"sale {sale_id} has no confirmed order for a receipt")
            if row["receipt_printed_at"]:
                return False
            db.execute(
                "UPDATE sales SET receipt_printed_at = ? WHERE id = ?", (self._now(), sale_id)
            )
            self._event(db, sale_id, "receipt", None)
        return True

    def ticket_print_started(self, sale_id: str, ticket_id: str) -> bool:
        """Record that a copy of a ticket is about to print; True if it is a reprint."""
        with self._tx() as db:
            row = db.execute(
                "SELECT copies FROM ticket_prints WHERE sale_id = ? AND ticket_id = ?",
                (sale_id, ticket_id),
            ).fetchone()
            db.execute(
                "INSERT INTO ticket_prints (sale_id, ticket_id, state, copies, updated_at)"
                " VALUES (?, ?, 'started', 1, ?) ON CONFLICT (sale_id, ticket_id) DO UPDATE"
                " SET state = 'started', copies = copies + 1, updated_at = excluded.updated_at",
                (sale_id, ticket_id, self._now()),
            )
            reprint = row is not None and row["copies"] > 0
            self._event(db, sale_id, "reprint" if reprint else "print", ticket_id)
        return reprint

    def ticket_print_done(self, sale_id: str, ticket_id: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE ticket_prints SET state = 'done', updated_at = ?"
                " WHERE sale_id = ? AND ticket_id = ?",
                (self._now(), sale_id, ticket_id),
            )

    def tickets_done(self, sale_id: str) -> set[str]:
        """Tickets of a sale whose print job finished."""
        with self._lock:
            rows = self._db.execute(
                "SELECT ticket_id FROM ticket_prints WHERE sale_id = ? AND state = 'done'",
                (sale_id,),
            ).fetchall()
        return {row["ticket_id"] for row in rows}

    def recent(self, limit: int = 30) -> list[SaleRecord]:
        """The latest sales, newest first (the staff screen)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM sales ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
            ).fetchall()
        return [self._record(row) for row in rows]

    # -- queries ------------------------------------------------------------------------

    @staticmethod
    def _record(row: sqlite3.Row) -> SaleRecord:
        return SaleRecord(
            id=row["id"],
            state=SaleState(row["state"]),
            request=json.loads(row["request"]),
            payment_ref=row["payment_ref"],
            order_code=row["order_code"],
            confirmation=json.loads(row["confirmation"]) if row["confirmation"] else None,
            receipt_printed_at=row["receipt_printed_at"],
            error=row["error"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def get(self, sale_id: str) -> SaleRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM sales WHERE id = ?", (sale_id,)).fetchone()
        return self._record(row) if row else None

    def in_state(self, *states: SaleState) -> list[SaleRecord]:
        """Sales in any of the given states, oldest first."""
        marks = ", ".join("?" for _ in states)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM sales WHERE state IN ({marks}) ORDER BY created_at, rowid",
                states,
            ).fetchall()
        return [self._record(row) for row in rows]

    def events(self, sale_id: str) -> list[tuple[str, str | None]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT state, detail FROM sale_events WHERE sale_id = ? ORDER BY id", (sale_id,)
            ).fetchall()
        return [(row["state"], row["detail"]) for row in rows]

    def last_sale_at(self) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MAX(updated_at) AS at FROM sales WHERE state IN (?, ?)",
                (SaleState.CONFIRMED, SaleState.PRINTED),
            ).fetchone()
        return row["at"] if row else None
