"""Ticket distribution (F2): hand a ticket on by link or e-mail; the companion claims it
with their name, sees only their own ticket, and the buyer's old QR code stops working."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.models import AuditLog, OutboxMessage, TicketTransfer
from core_service.platform.settings import Settings
from tests.support.aftersales import buy_online, data_tokens, order_path, scan, tickets_of
from tests.support.web import query


async def _share(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    code: str,
    key: str,
    ticket_id: int,
    email: str = "",
) -> str:
    """Make the claim link of one ticket; returns its path."""
    made = await client.post(
        f"/shop/{demo.slug}/orders/{code}/tickets/{ticket_id}/share",
        data={"key": key, "email": email},
    )
    assert made.status_code == 303, made.text
    page = await client.get(made.headers["location"].split("#")[0])
    link = re.search(rf'id="claim-link-{ticket_id}" class="claim-link" value="([^"]+)"', page.text)
    assert link is not None, page.text
    return "/shop/" + unescape(link.group(1)).split("/shop/", 1)[1]


async def _claim(client: AsyncTestClient[Any], claim_path: str, name: str) -> Any:
    return await client.post(claim_path, data={"name": name})


async def test_claimed_ticket_gets_a_new_qr_and_the_old_one_stops_working(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    db_settings: Settings,
    gate_headers: dict[str, str],
) -> None:
    code, key = await buy_online(client, demo, days_ahead=0)
    first = (await tickets_of(db_settings, code))[0]
    old_tokens = data_tokens((await client.get(order_path(demo, code, key))).text)
    link = await _share(client, demo, code, key, first.id)
    claimed = await _claim(client, link, "佐藤 太郎")
    assert claimed.status_code == 303
    holder_page = await client.get(claimed.headers["location"])
    assert holder_page.status_code == 200 and "佐藤 太郎" in holder_page.text
    new_tokens = data_tokens(holder_page.text)
    assert len(new_tokens) == 1 and new_tokens[0] != old_tokens[0]
    assert (await tickets_of(db_settings, code))[0].secret_version == first.secret_version + 1
    # The buyer's copy of the old QR code is refused; the companion's code admits.
    assert (await scan(client, gate_headers, old_tokens[0]))["result"] == "invalid"
    assert (await scan(client, gate_headers, new_tokens[0]))["result"] == "admitted"


async def test_companion_page_shows_only_their_own_ticket(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, key = await buy_online(client, demo)
    tickets = await tickets_of(db_settings, code)
    link = await _share(client, demo, code, key, tickets[1].id)
    holder_page = await client.get((await _claim(client, link, "Ken")).headers["location"])
    buyer_page = await client.get(order_path(demo, code, key))
    others = set(data_tokens(buyer_page.text))
    shown = data_tokens(holder_page.text)
    assert len(shown) == 1 and not set(shown) & others
    assert code not in holder_page.text  # no order details, no way to the buyer's page


async def test_buyer_sees_which_tickets_are_claimed(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, key = await buy_online(client, demo)
    tickets = await tickets_of(db_settings, code)
    link = await _share(client, demo, code, key, tickets[0].id)
    before = (await client.get(order_path(demo, code, key))).text
    assert "まだ受け取られていません" in before
    await _claim(client, link, "佐藤 太郎")
    after = (await client.get(order_path(demo, code, key))).text
    assert "佐藤 太郎 さんにお渡し済み" in after
    # The claimed ticket's QR code is no longer shown to the buyer.
    assert len(data_tokens(after)) == len(tickets) - 1


async def test_link_can_be_claimed_once_only(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, key = await buy_online(client, demo)
    ticket = (await tickets_of(db_settings, code))[0]
    link = await _share(client, demo, code, key, ticket.id)
    assert (await _claim(client, link, "A")).status_code == 303
    again = await _claim(client, link, "B")
    assert again.status_code == 409 and "受け取り済み" in again.text
    assert (await tickets_of(db_settings, code))[0].holder_name == "A"


async def test_claim_needs_a_name_and_keeps_the_form(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, key = await buy_online(client, demo)
    ticket = (await tickets_of(db_settings, code))[0]
    link = await _share(client, demo, code, key, ticket.id)
    refused = await _claim(client, link, "   ")
    assert refused.status_code == 422 and 'id="name-error" role="alert"' in refused.text
    assert (await tickets_of(db_settings, code))[0].secret_version == ticket.secret_version


async def test_sharing_twice_gives_the_same_link(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, key = await buy_online(client, demo)
    ticket = (await tickets_of(db_settings, code))[0]
    assert await _share(client, demo, code, key, ticket.id) == await _share(
        client, demo, code, key, ticket.id
    )
    assert len(await query(db_settings, sa.select(TicketTransfer.id))) == 1


async def test_link_is_emailed_through_the_outbox(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, key = await buy_online(client, demo)
    ticket = (await tickets_of(db_settings, code))[0]
    link = await _share(client, demo, code, key, ticket.id, email="Friend@Example.jp")
    mails = await query(
        db_settings, sa.select(OutboxMessage).where(OutboxMessage.kind == "ticket_transfer")
    )
    assert len(mails) == 1
    mail = mails[0][0]
    assert mail.to_address == "friend@example.jp" and link in mail.body_text
    assert "チケットが届きました" in mail.subject and "A ticket for you" in mail.subject


async def test_wrong_order_key_cannot_share(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, _key = await buy_online(client, demo)
    ticket = (await tickets_of(db_settings, code))[0]
    refused = await client.post(
        f"/shop/{demo.slug}/orders/{code}/tickets/{ticket.id}/share", data={"key": "guess"}
    )
    assert refused.status_code == 404
    assert await query(db_settings, sa.select(TicketTransfer.id)) == []


async def test_claim_is_in_the_audit_log(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, key = await buy_online(client, demo)
    ticket = (await tickets_of(db_settings, code))[0]
    await _claim(client, await _share(client, demo, code, key, ticket.id), "A")
    actions = {r[0] for r in await query(db_settings, sa.select(AuditLog.action))}
    assert {"ticket.offered", "ticket.claimed"} <= actions
