"""The kiosk's local sale journal (SQLite), so a crash never loses a sale or double-charges.

Each sale is one row keyed by its idempotency key (also sent to the terminal and to the
core, so every retry is recognised as the same sale). Its state only moves forward::

    started ──▶ paid ──▶ confirmed ──▶ printed
       │          │
       ▼          ▼
     failed     voided        (core refused: payment reversed at the terminal)
                void_failed   (core refused and the void failed: staff must refund)

Each transition is one method that checks the current state inside a transaction, so a
repeated call is a no-op or an error, never a second state change. Every transition is
also appended to ``sale_events`` for the staff screen and for support.
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

from kiosk_driver.errors import KioskError

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

STARTED, PAID, CONFIRMED, PRINTED = "started", "paid", "confirmed", "printed"
FAILED, VOIDED, VOID_FAILED = "failed", "voided", "void_failed"
OPEN_STATES = (STARTED, PAID, CONFIRMED)  # what resume() must finish


class JournalStateError(KioskError):
    """A transition was asked for from the wrong state (a bug, or a replay)."""


@dataclass(frozen=True)
class SaleRecord:
    id: str
    state: str
    request: dict[str, Any]
    payment_ref: str | None
    order_code: str | None
    confirmation: dict[str, Any] | None
    receipt_printed_at: str | None
    error: str | None
    created_at: str
    updated_at: str


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
        expected: tuple[str, ...],
        state: str,
        detail: str | None = None,
        **fields: Any,
    ) -> None:
        with self._tx() as db:
            row = db.execute("SELECT state FROM sales WHERE id = ?", (sale_id,)).fetchone()
            if row is None:
                raise JournalStateError(f"no sale {sale_id}")
            if row["state"] not in expected:
                raise JournalStateError(f"sale {sale_id} is {row['state']}, not {expected}")
            assignments = "".join(f", {name} = ?" for name in fields)
            db.execute(
                f"UPDATE sales SET state = ?, updated_at = ?{assignments} WHERE id = ?",
                (state, self._now(), *fields.values(), sale_id),
            )
            self._event(db, sale_id, state, detail)

    # -- transitions --------------------------------------------------------------------

    def start(self, request: dict[str, Any], sale_id: str | None = None) -> str:
        """Record a new sale before any money moves; returns its idempotency key."""
        sale_id = sale_id or str(uuid.uuid4())
        now = self._now()
        with self._tx() as db:
            db.execute(
                "INSERT INTO sales (id, state, request, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (sale_id, STARTED, json.dumps(request), now, now),
            )
            self._event(db, sale_id, STARTED, None)
        return sale_id

    def paid(self, sale_id: str, payment_ref: str) -> None:
        self._move(sale_id, (STARTED,), PAID, payment_ref, payment_ref=payment_ref)

    def confirmed(self, sale_id: str, order_code: str, confirmation: dict[str, Any]) -> None:
        self._move(
            sale_id,
            (PAID,),
            CONFIRMED,
            order_code,
            order_code=order_code,
            confirmation=json.dumps(confirmation),
        )

    def printed(self, sale_id: str) -> None:
        self._move(sale_id, (CONFIRMED,), PRINTED)

    def failed(self, sale_id: str, reason: str) -> None:
        """The terminal took no money; nothing more to do."""
        self._move(sale_id, (STARTED,), FAILED, reason, error=reason)

    def voided(self, sale_id: str, reason: str) -> None:
        self._move(sale_id, (PAID,), VOIDED, reason, error=reason)

    def void_failed(self, sale_id: str, reason: str) -> None:
        self._move(sale_id, (PAID,), VOID_FAILED, reason, error=reason)

    def receipt_printed(self, sale_id: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE sales SET receipt_printed_at = ? WHERE id = ?", (self._now(), sale_id)
            )
            self._event(db, sale_id, "receipt", None)

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
            state=row["state"],
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

    def in_state(self, *states: str) -> list[SaleRecord]:
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
                (CONFIRMED, PRINTED),
            ).fetchone()
        return row["at"] if row else None
