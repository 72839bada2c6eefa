"""My Page: magic links by e-mail, the session cookie, and one facility's orders only."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.models import Order, OutboxMessage
from core_service.platform import urls
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from tests.support.web import Shop, build_shop, checkout_form, pay_with_demo, product_url, query


async def buy(client: AsyncTestClient[Any], shop: Shop, email: str, checkout_id: str) -> None:
    form = checkout_form(shop, email=email, checkout_id=checkout_id)
    await pay_with_demo(client, await client.post(product_url(shop), data=form))


def link_path(text: str) -> str:
    url = re.search(r"http://shop\.test(/shop/[^\s\"<]+/my/login\?[^\s\"<]+)", text)
    assert url is not None, text
    return unescape(url.group(1))


async def test_mypage_asks_for_an_email_first(
    web_client: AsyncTestClient[Any], web_shop: Shop
) -> None:
    page = await web_client.get(f"/shop/{web_shop.slug}/my")
    assert page.status_code == 200
    assert '<label for="email">メールアドレス</label>' in page.text


async def test_magic_link_opens_the_purchase_history(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop, "hanako@example.jp", "a")
    sent = await web_client.post(f"/shop/{web_shop.slug}/my", data={"email": "Hanako@example.jp"})
    assert sent.status_code == 200 and "メールをご確認ください" in sent.text
    mails = await query(
        web_settings, sa.select(OutboxMessage).where(OutboxMessage.kind == "mypage_link")
    )
    assert len(mails) == 1
    mail = mails[0][0]
    assert mail.to_address == "hanako@example.jp"
    opened = await web_client.get(link_path(mail.body_text))
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/shop/{web_shop.slug}/my"
    history = await web_client.get(f"/shop/{web_shop.slug}/my")
    code, key = (await query(web_settings, sa.select(Order.code, Order.access_key)))[0]
    assert code in history.text and "お支払い済み" in history.text and "4,500円" in history.text
    assert f"/shop/{web_shop.slug}/orders/{code}?key={key}" in history.text


async def test_confirmation_mail_link_opens_mypage(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop, "hanako@example.jp", "a")
    mail = (await query(web_settings, sa.select(OutboxMessage)))[0][0]
    assert (await web_client.get(link_path(mail.body_text))).status_code == 303
    assert "お支払い済み" in (await web_client.get(f"/shop/{web_shop.slug}/my")).text


async def test_unknown_address_gets_the_same_answer_and_no_mail(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    sent = await web_client.post(f"/shop/{web_shop.slug}/my", data={"email": "nobody@example.jp"})
    assert sent.status_code == 200 and "メールをご確認ください" in sent.text
    assert await query(web_settings, sa.select(OutboxMessage.id)) == []


async def test_invalid_address_is_shown_beside_the_field(
    web_client: AsyncTestClient[Any], web_shop: Shop
) -> None:
    page = await web_client.post(f"/shop/{web_shop.slug}/my", data={"email": "nope"})
    assert page.status_code == 422
    assert 'id="email-error" role="alert"' in page.text and 'value="nope"' in page.text


async def test_forged_or_foreign_links_are_refused(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop, "hanako@example.jp", "a")
    forged = await web_client.get(f"/shop/{web_shop.slug}/my/login?token=abc")
    assert forged.status_code == 400 and "無効か期限切れ" in forged.text
    other = await build_shop(web_settings, slug="other")
    # A link signed for the first facility does not open the second one's My Page.
    path = urls.magic_link_path(
        Signer(web_settings.secret_key), web_shop.slug, web_shop.facility_id, "hanako@example.jp"
    )
    foreign = path.replace(f"/shop/{web_shop.slug}/", f"/shop/{other.slug}/")
    assert (await web_client.get(foreign)).status_code == 400


async def test_mypage_shows_only_this_facilitys_orders(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    other = await build_shop(web_settings, slug="other")
    await buy(web_client, web_shop, "hanako@example.jp", "a")
    await buy(web_client, other, "hanako@example.jp", "b")
    codes = dict(await query(web_settings, sa.select(Order.facility_id, Order.code)))
    signer = Signer(web_settings.secret_key)
    login = urls.magic_link_path(signer, web_shop.slug, web_shop.facility_id, "hanako@example.jp")
    await web_client.get(login)
    mine = (await web_client.get(f"/shop/{web_shop.slug}/my")).text
    assert codes[web_shop.facility_id] in mine and codes[other.facility_id] not in mine
    # The session cookie is scoped to the first facility: the other one asks for e-mail.
    theirs = (await web_client.get(f"/shop/{other.slug}/my")).text
    assert codes[other.facility_id] not in theirs and 'name="email"' in theirs


async def test_logout_forgets_the_session(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop, "hanako@example.jp", "a")
    signer = Signer(web_settings.secret_key)
    await web_client.get(
        urls.magic_link_path(signer, web_shop.slug, web_shop.facility_id, "hanako@example.jp")
    )
    out = await web_client.post(f"/shop/{web_shop.slug}/my/logout")
    assert out.status_code == 303
    assert 'name="email"' in (await web_client.get(f"/shop/{web_shop.slug}/my")).text
