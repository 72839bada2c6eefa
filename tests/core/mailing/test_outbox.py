"""The outbox's delivery guarantees: the confirmation mail commits with the payment,
messages left ``sending`` by a crash go out again once their lease is over, one SMTP
connection serves a whole delivery, and a message keeps its ``Message-ID``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.mailing import outbox
from core_service.mailing.outbox import deliver_due, enqueue
from core_service.models import Order, OutboxMessage, utcnow
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.smtp import Inbox, smtp_server
from tests.support.web import Shop, checkout_form, pay_with_demo, product_url, query


class CountingInbox(Inbox):
    def __init__(self) -> None:
        super().__init__()
        self.connections = 0

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses


@pytest.fixture
def counting_smtp() -> Iterator[tuple[CountingInbox, int]]:
    with smtp_server(CountingInbox()) as (inbox, port):
        assert isinstance(inbox, CountingInbox)
        yield inbox, port


async def _queue(settings: Settings, count: int) -> list[int]:
    demo = await seed_demo(settings)
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            messages = [
                enqueue(
                    session,
                    demo.facility_id,
                    kind="campaign",
                    to=f"guest{i}@example.jp",
                    subject=f"news {i}",
                    text="body",
                )
                for i in range(count)
            ]
            await session.commit()
            return [m.id for m in messages]
    finally:
        await engine.dispose()


async def _deliver(settings: Settings) -> int:
    engine = make_engine(settings)
    try:
        return await deliver_due(make_sessionmaker(engine), settings)
    finally:
        await engine.dispose()


def _smtp(settings: Settings, port: int) -> Settings:
    return dataclasses.replace(
        settings, smtp_host="127.0.0.1", smtp_port=port, mail_rate_per_second=0
    )


async def test_one_connection_serves_a_whole_delivery(
    sqlite_settings: Settings, counting_smtp: tuple[CountingInbox, int]
) -> None:
    inbox, port = counting_smtp
    await _queue(sqlite_settings, 12)

    assert await _deliver(_smtp(sqlite_settings, port)) == 12

    assert len(inbox.messages) == 12 and inbox.connections == 1


async def test_a_message_left_sending_by_a_crash_goes_out_after_its_lease(
    sqlite_settings: Settings, counting_smtp: tuple[CountingInbox, int]
) -> None:
    inbox, port = counting_smtp
    now = utcnow()
    ids = await _queue(sqlite_settings, 2)
    leased, expired = ids
    rows = {
        leased: now + dt.timedelta(minutes=5),  # a delivery is sending it right now
        expired: now - dt.timedelta(seconds=1),  # its delivery died
    }
    engine = make_engine(sqlite_settings)
    try:
        async with make_sessionmaker(engine)() as session:
            for message_id, until in rows.items():
                await session.execute(
                    sa.update(OutboxMessage)
                    .where(OutboxMessage.id == message_id)
                    .values(status="sending", attempts=1, next_attempt_at=until)
                )
            await session.commit()
    finally:
        await engine.dispose()

    assert await _deliver(_smtp(sqlite_settings, port)) == 1

    (only,) = inbox.messages
    assert only["To"] == "guest1@example.jp"
    states = dict(
        (r[0].id, (r[0].status, r[0].attempts))
        for r in await query(sqlite_settings, sa.select(OutboxMessage))
    )
    assert states == {leased: ("sending", 1), expired: ("sent", 2)}


async def test_a_message_keeps_its_message_id_when_sent_again(sqlite_settings: Settings) -> None:
    (message_id,) = await _queue(sqlite_settings, 1)
    (row,) = (await query(sqlite_settings, sa.select(OutboxMessage)))[0]
    first = outbox.build_email(sqlite_settings, row)["Message-ID"]
    again = outbox.build_email(sqlite_settings, row)["Message-ID"]
    assert first == again == f"<kippu-{row.facility_id}-{message_id}@kippu.invalid>"


async def _buy(client: AsyncTestClient[Any], shop: Shop) -> None:
    form = checkout_form(shop)
    await pay_with_demo(client, await client.post(product_url(shop), data=form))


async def test_the_confirmation_mail_commits_with_the_payment(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await _buy(web_client, web_shop)

    orders = await query(web_settings, sa.select(Order.status))
    mails = await query(web_settings, sa.select(OutboxMessage.kind))
    assert [o[0] for o in orders] == ["paid"]
    assert [m[0] for m in mails] == ["order_confirmation"]


async def test_a_crash_before_the_payment_commits_leaves_neither_payment_nor_mail(
    web_client: AsyncTestClient[Any],
    web_shop: Shop,
    web_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def crash(*args: Any) -> None:
        raise ConnectionResetError("database connection lost before COMMIT")

    # The last step before the COMMIT, after the mail has been written.
    monkeypatch.setattr("core_service.payments.transitions.convert_holds", crash)
    # A lost connection is an outage: the approval answers 503, try again (platform.errors).
    with pytest.raises(AssertionError, match="503"):
        await _buy(web_client, web_shop)

    assert [o[0] for o in await query(web_settings, sa.select(Order.status))] == ["pending"]
    assert await query(web_settings, sa.select(OutboxMessage.id)) == []


async def test_a_mail_that_cannot_be_built_does_not_undo_the_payment(
    web_client: AsyncTestClient[Any],
    web_shop: Shop,
    web_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError("template variable")

    monkeypatch.setattr("core_service.payments.service.order_confirmation", broken)
    await _buy(web_client, web_shop)

    assert [o[0] for o in await query(web_settings, sa.select(Order.status))] == ["paid"]
    assert await query(web_settings, sa.select(OutboxMessage.id)) == []
    assert "could not queue the confirmation" in caplog.text
