"""``kippu worker`` as real processes on PostgreSQL: each periodic job once per period
however many workers run, and a worker killed mid-delivery loses no mail and sends none
twice."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.processes import kill, settings_environment, start, stop, wait_for
from tests.support.smtp import Inbox, smtp_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

#: Short enough for a test, long enough for a busy CI machine's heartbeats.
STALLED_SECONDS = 4


def _dsn(settings: Settings) -> str:
    return "postgresql://" + settings.database_url.split("://", 1)[1]


async def _fetch(settings: Settings, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(_dsn(settings))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def fetch(settings: Settings, query: str, *args: object) -> list[asyncpg.Record]:
    return asyncio.run(_fetch(settings, query, *args))


def test_two_workers_run_each_periodic_job_once_per_period(
    postgres_settings: Settings, tmp_path: Path
) -> None:
    env = settings_environment(postgres_settings, worker_stalled_seconds=STALLED_SECONDS)
    workers = [start(["worker"], env, tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        wait_for(
            lambda: (
                len(
                    fetch(
                        postgres_settings,
                        "SELECT 1 FROM procrastinate_jobs WHERE task_name = 'expire_holds'"
                        " AND status = 'succeeded'",
                    )
                )
                >= 4
            ),
            timeout=60,
            what="four periods of expire_holds",
        )
    finally:
        codes = [stop(w) for w in workers]
    assert codes == [0, 0], [p.read_text() for p in tmp_path.glob("worker-*.log")]
    rows = fetch(
        postgres_settings,
        "SELECT task_name, args->>'timestamp' AS period, count(*) AS n"
        " FROM procrastinate_jobs GROUP BY 1, 2",
    )
    assert rows and all(r["n"] == 1 for r in rows), rows
    assert not fetch(postgres_settings, "SELECT 1 FROM procrastinate_jobs WHERE status = 'failed'")


class HeldInbox(Inbox):
    """An SMTP server that stalls on one recipient until told to go on: the worker is
    then stuck mid-send, before the relay has accepted that message."""

    def __init__(self, held: str) -> None:
        super().__init__()
        self.held = held
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address == self.held and not self.release.is_set():
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 try again later"  # the client is gone by now
        envelope.rcpt_tos.append(address)
        return "250 OK"


MESSAGES = 30


async def _queue_mail(settings: Settings, facility_id: int) -> None:
    conn = await asyncpg.connect(_dsn(settings))
    try:
        await conn.executemany(
            "INSERT INTO outbox_message (facility_id, kind, to_address, subject, body_text,"
            " body_html, status, attempts, last_error, next_attempt_at, created_at, updated_at)"
            " VALUES ($1, 'campaign', $2, $3, 'body', '', 'queued', 0, '', now(), now(), now())",
            [(facility_id, f"guest{i}@example.jp", f"news {i}") for i in range(MESSAGES)],
        )
    finally:
        await conn.close()


def test_a_worker_killed_mid_delivery_loses_no_mail_and_sends_none_twice(
    postgres_settings: Settings, tmp_path: Path
) -> None:
    demo = asyncio.run(seed_demo(postgres_settings))
    asyncio.run(_queue_mail(postgres_settings, demo.facility_id))
    inbox = HeldInbox(held="guest7@example.jp")
    with smtp_server(inbox) as (_, port):
        env = settings_environment(
            postgres_settings,
            smtp_host="127.0.0.1",
            smtp_port=port,
            mail_rate_per_second=50,
            mail_lease_seconds=STALLED_SECONDS,
            worker_stalled_seconds=STALLED_SECONDS,
        )
        first = start(["worker"], env, tmp_path / "first.log")
        try:
            assert inbox.holding.wait(timeout=60), (tmp_path / "first.log").read_text()
            kill(first)  # mid-send: message 7 claimed, not accepted
        finally:
            inbox.release.set()
            if first.poll() is None:
                kill(first)
        assert len(inbox.messages) == 7
        assert (
            fetch(
                postgres_settings,
                "SELECT status FROM outbox_message WHERE to_address = 'guest7@example.jp'",
            )[0]["status"]
            == "sending"
        )

        second = start(["worker"], env, tmp_path / "second.log")
        try:
            wait_for(
                lambda: (
                    not fetch(
                        postgres_settings, "SELECT 1 FROM outbox_message WHERE status <> 'sent'"
                    )
                ),
                timeout=90,
                what="every message sent",
            )
        finally:
            assert stop(second) == 0, (tmp_path / "second.log").read_text()

    sent_to = Counter(str(m["To"]) for m in inbox.messages)
    assert len(inbox.messages) == MESSAGES and set(sent_to.values()) == {1}
    assert len(set(inbox.message_ids())) == MESSAGES
