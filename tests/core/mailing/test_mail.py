"""Order confirmation e-mail through the outbox to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.mailing.outbox import deliver_due
from core_service.models import Order, OutboxMessage
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from tests.support.live_server import free_port
from tests.support.smtp import Inbox, smtp_server
from tests.support.web import Shop, checkout_form, pay_with_demo, product_url, query


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as served:
        yield served


async def deliver(settings: Settings) -> int:
    engine = make_engine(settings)
    try:
        return await deliver_due(make_sessionmaker(engine), settings)
    finally:
        await engine.dispose()


async def buy(client: AsyncTestClient[Any], shop: Shop, **overrides: str) -> None:
    form = checkout_form(shop, **overrides)
    await pay_with_demo(client, await client.post(product_url(shop), data=form))


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


async def test_confirmation_arrives_with_ticket_and_mypage_links(
    web_client: AsyncTestClient[Any],
    web_shop: Shop,
    web_settings: Settings,
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    await buy(web_client, web_shop)
    settings = dataclasses.replace(web_settings, smtp_host="127.0.0.1", smtp_port=port)
    assert await deliver(settings) == 1
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    code, key = (await query(web_settings, sa.select(Order.code, Order.access_key)))[0]
    assert message["To"] == "hanako@example.jp"
    assert message["Subject"] == f"【森のアスレチック】チケットのご案内(ご注文番号 {code})"
    text, html = parts(message)
    ticket_url = f"http://shop.test/shop/{web_shop.slug}/orders/{code}?key={key}"
    assert ticket_url in text
    assert f'href="{ticket_url}"' in html
    assert "入場券 / 大人 x 2" in text and "4,500円" in text
    assert f"http://shop.test/shop/{web_shop.slug}/my/login?token=" in text
    assert "/my/login?token=" in html and 'lang="ja"' in html
    status = await query(web_settings, sa.select(OutboxMessage.status, OutboxMessage.attempts))
    assert status == [("sent", 1)]


async def test_english_order_gets_english_mail(
    web_client: AsyncTestClient[Any],
    web_shop: Shop,
    web_settings: Settings,
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    web_client.cookies.set("kippu_lang", "en")
    await buy(web_client, web_shop)
    await deliver(dataclasses.replace(web_settings, smtp_host="127.0.0.1", smtp_port=port))
    message = inbox.messages[0]
    assert message["Subject"].startswith("[Forest Athletics] Your tickets (order ")
    text, html = parts(message)
    assert "Day admission / Adult x 2" in text and "¥4,500" in text
    assert "Show my tickets" in html and 'lang="en"' in html


async def test_refused_connection_is_retried_later(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop)
    closed = dataclasses.replace(web_settings, smtp_host="127.0.0.1", smtp_port=free_port())
    assert await deliver(closed) == 0
    row = (await query(web_settings, sa.select(OutboxMessage)))[0][0]
    assert row.status == "queued"
    assert row.attempts == 1
    assert row.last_error
    assert row.next_attempt_at > row.created_at
