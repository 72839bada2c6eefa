"""My Page passwords: optional, set after a magic-link login, throttled, per facility."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.models import Customer, LoginAttempt
from core_service.platform import urls
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from tests.support.web import (
    Shop,
    build_shop,
    checkout_form,
    pay_with_demo,
    product_url,
    query,
    run_in_session,
)

EMAIL = "hanako@example.jp"
GOOD = "correct horse"


async def buy(client: AsyncTestClient[Any], shop: Shop, email: str, checkout_id: str) -> None:
    form = checkout_form(shop, email=email, checkout_id=checkout_id)
    await pay_with_demo(client, await client.post(product_url(shop), data=form))


async def link_login(client: AsyncTestClient[Any], settings: Settings, shop: Shop) -> None:
    signer = Signer(settings.secret_key)
    opened = await client.get(urls.magic_link_path(signer, shop.slug, shop.facility_id, EMAIL))
    assert opened.status_code == 303


async def set_password(client: AsyncTestClient[Any], shop: Shop, password: str) -> Any:
    return await client.post(
        f"/shop/{shop.slug}/my/password",
        data={"password": password, "password_confirm": password},
    )


async def password_login(
    client: AsyncTestClient[Any], shop: Shop, email: str, password: str
) -> Any:
    client.cookies.clear()
    return await client.post(
        f"/shop/{shop.slug}/my/password-login", data={"email": email, "password": password}
    )


def login_error(html: str) -> str:
    found = re.search(r'id="login-error" role="alert">([^<]*)<', html)
    assert found is not None, html[-2000:]
    return unescape(found.group(1))


async def test_set_password_then_log_in_with_it(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop, EMAIL, "a")
    await link_login(web_client, web_settings, web_shop)
    page = await web_client.get(f"/shop/{web_shop.slug}/my/password")
    assert page.status_code == 200 and 'name="password_confirm"' in page.text
    saved = await set_password(web_client, web_shop, GOOD)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/shop/{web_shop.slug}/my?password=set"
    notice = await web_client.get(saved.headers["location"])
    assert "パスワードを保存しました" in notice.text
    (stored,) = (await query(web_settings, sa.select(Customer.password_hash)))[0]
    assert stored.startswith("$argon2id$") and GOOD not in stored

    logged_in = await password_login(web_client, web_shop, "Hanako@Example.jp", GOOD)
    assert logged_in.status_code == 303
    assert logged_in.headers["location"] == f"/shop/{web_shop.slug}/my"
    history = await web_client.get(f"/shop/{web_shop.slug}/my")
    assert "お支払い済み" in history.text
    # The magic link keeps working too.
    web_client.cookies.clear()
    await link_login(web_client, web_settings, web_shop)
    assert "お支払い済み" in (await web_client.get(f"/shop/{web_shop.slug}/my")).text


async def test_failures_all_look_the_same(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop, EMAIL, "a")
    await buy(web_client, web_shop, "nopass@example.jp", "b")
    await link_login(web_client, web_settings, web_shop)
    await set_password(web_client, web_shop, GOOD)

    wrong = await password_login(web_client, web_shop, EMAIL, "wrong password")
    unknown = await password_login(web_client, web_shop, "nobody@example.jp", GOOD)
    no_password = await password_login(web_client, web_shop, "nopass@example.jp", GOOD)
    assert wrong.status_code == unknown.status_code == no_password.status_code == 401
    assert login_error(wrong.text) == login_error(unknown.text) == login_error(no_password.text)
    assert "ログイン用リンク" in login_error(wrong.text)
    # The e-mail stays in the form; the password does not come back.
    assert f'value="{EMAIL}"' in wrong.text and "wrong password" not in wrong.text
    assert "kippu_mypage" not in wrong.headers.get("set-cookie", "")


async def test_short_or_mismatched_passwords_are_refused(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop, EMAIL, "a")
    await link_login(web_client, web_settings, web_shop)
    short = await set_password(web_client, web_shop, "1234567")
    assert short.status_code == 422
    assert 'id="password-error" role="alert"' in short.text and "8文字以上" in short.text
    mismatch = await web_client.post(
        f"/shop/{web_shop.slug}/my/password",
        data={"password": GOOD, "password_confirm": GOOD + "!"},
    )
    assert mismatch.status_code == 422 and "2つのパスワードが一致しません" in mismatch.text
    assert await query(web_settings, sa.select(Customer.password_hash)) == [(None,)]


async def test_password_pages_need_a_session(
    web_client: AsyncTestClient[Any], web_shop: Shop
) -> None:
    page = await web_client.get(f"/shop/{web_shop.slug}/my/password")
    assert page.status_code == 303 and page.headers["location"] == f"/shop/{web_shop.slug}/my"
    posted = await set_password(web_client, web_shop, GOOD)
    assert posted.status_code == 303


async def test_five_failures_pause_password_login_from_that_address(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop, EMAIL, "a")
    await link_login(web_client, web_settings, web_shop)
    await set_password(web_client, web_shop, GOOD)
    for attempt in range(5):
        failed = await password_login(web_client, web_shop, EMAIL, f"wrong {attempt}")
        assert failed.status_code == 401
    # Even the right password is refused now, saying so and for how long.
    paused = await password_login(web_client, web_shop, EMAIL, GOOD)
    assert paused.status_code == 429 and 0 < int(paused.headers["retry-after"]) <= 15 * 60
    assert "15分後にお試しください" in login_error(paused.text)
    assert "kippu_mypage" not in paused.headers.get("set-cookie", "")
    # The magic link is not throttled.
    await link_login(web_client, web_settings, web_shop)

    async def age_failures(session: Any) -> None:
        await session.execute(sa.update(LoginAttempt).values(at=LoginAttempt.at - 15 * 60 - 1))
        await session.commit()

    await run_in_session(web_settings, age_failures)
    assert (await password_login(web_client, web_shop, EMAIL, GOOD)).status_code == 303
    # A success clears this login's failures.
    assert await query(web_settings, sa.select(LoginAttempt.id)) == []


async def test_logout_ends_the_session_everywhere(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop, EMAIL, "a")
    await link_login(web_client, web_settings, web_shop)
    stolen = dict(web_client.cookies)  # as a second browser (or a thief) would hold it
    my = f"/shop/{web_shop.slug}/my"
    assert "お支払い済み" in (await web_client.get(my)).text

    assert (await web_client.post(f"{my}/logout")).status_code == 303
    web_client.cookies.clear()
    web_client.cookies.update(stolen)
    replayed = await web_client.get(my)
    assert "お支払い済み" not in replayed.text and 'name="email"' in replayed.text
    assert (await web_client.get(f"{my}/password")).headers["location"] == my


async def test_a_password_change_ends_other_sessions_and_keeps_this_one(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop, EMAIL, "a")
    await link_login(web_client, web_settings, web_shop)
    other_browser = dict(web_client.cookies)
    my = f"/shop/{web_shop.slug}/my"

    assert (await set_password(web_client, web_shop, GOOD)).status_code == 303
    assert "お支払い済み" in (await web_client.get(my)).text  # renewed cookie
    web_client.cookies.clear()
    web_client.cookies.update(other_browser)
    assert "お支払い済み" not in (await web_client.get(my)).text


async def test_a_cookie_from_before_versioned_sessions_is_refused(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop, EMAIL, "a")
    (customer_id,) = (await query(web_settings, sa.select(Customer.id)))[0]
    old = Signer(web_settings.secret_key).dumps(
        "mypage-session", {"f": web_shop.facility_id, "c": customer_id}
    )
    web_client.cookies.set("kippu_mypage", old)
    assert "お支払い済み" not in (await web_client.get(f"/shop/{web_shop.slug}/my")).text


async def test_remove_password(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop, EMAIL, "a")
    await link_login(web_client, web_settings, web_shop)
    await set_password(web_client, web_shop, GOOD)
    page = await web_client.get(f"/shop/{web_shop.slug}/my/password")
    assert "パスワードを削除する" in page.text
    removed = await web_client.post(f"/shop/{web_shop.slug}/my/password/remove")
    assert removed.status_code == 303
    assert removed.headers["location"] == f"/shop/{web_shop.slug}/my?password=removed"
    assert await query(web_settings, sa.select(Customer.password_hash)) == [(None,)]
    assert (await password_login(web_client, web_shop, EMAIL, GOOD)).status_code == 401


async def test_change_password(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await buy(web_client, web_shop, EMAIL, "a")
    await link_login(web_client, web_settings, web_shop)
    await set_password(web_client, web_shop, GOOD)
    assert (await set_password(web_client, web_shop, "battery staple")).status_code == 303
    assert (await password_login(web_client, web_shop, EMAIL, GOOD)).status_code == 401
    assert (await password_login(web_client, web_shop, EMAIL, "battery staple")).status_code == 303


async def test_another_facilitys_customer_is_separate(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    other = await build_shop(web_settings, slug="other")
    await buy(web_client, web_shop, EMAIL, "a")
    await buy(web_client, other, EMAIL, "b")
    await link_login(web_client, web_settings, web_shop)
    await set_password(web_client, web_shop, GOOD)
    hashes = dict(
        await query(web_settings, sa.select(Customer.facility_id, Customer.password_hash))
    )
    assert hashes[other.facility_id] is None and hashes[web_shop.facility_id] is not None
    assert (await password_login(web_client, other, EMAIL, GOOD)).status_code == 401
    # Logging in at the first facility sets a cookie for its path only.
    ok = await password_login(web_client, web_shop, EMAIL, GOOD)
    assert ok.status_code == 303 and f"Path=/shop/{web_shop.slug}/" in ok.headers["set-cookie"]
    assert 'name="email"' in (await web_client.get(f"/shop/{other.slug}/my")).text
