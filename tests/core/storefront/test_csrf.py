"""CSRF protection of the visitor pages (issue 16): every form carries the token, a post
without it is refused with a bilingual 403 and changes nothing, the JSON APIs are left out."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.app import create_app
from core_service.models import Order, OutboxMessage
from core_service.platform.csrf import COOKIE_NAME, FORM_FIELD
from core_service.platform.settings import Settings
from core_service.storefront.rendering import TEMPLATE_DIR
from tests.support.csrf import FormClient, fetch_token, page_token
from tests.support.web import (
    BROWSER_HEADERS,
    Shop,
    build_shop,
    checkout_form,
    make_settings,
    product_url,
    query,
)


def test_every_post_form_of_the_visitor_templates_carries_the_token() -> None:
    forms = 0
    for template in sorted(TEMPLATE_DIR.glob("*.html")):
        text = template.read_text()
        for match in re.finditer(r'<form method="post"[^>]*>(.*?)</form>', text, re.S):
            forms += 1
            assert "{{ csrf_input | safe }}" in match.group(1), f"{template.name}: {match[0][:80]}"
    assert forms >= 18  # the shop, My Page, payment and after-sales forms


async def test_checkout_posted_with_the_pages_token_is_accepted(
    web_client: FormClient, web_shop: Shop
) -> None:
    web_client.send_csrf = False  # this test sends the field itself, as the form does
    token = await fetch_token(web_client, product_url(web_shop))
    assert token == web_client.cookies[COOKIE_NAME]
    response = await web_client.post(
        product_url(web_shop), data={**checkout_form(web_shop), FORM_FIELD: token}
    )
    assert response.status_code == 303


async def test_checkout_without_the_token_is_refused_in_japanese_and_buys_nothing(
    web_client: FormClient, web_shop: Shop, web_settings: Settings
) -> None:
    await web_client.get(product_url(web_shop))  # the cookie is there, as another site's
    web_client.send_csrf = False  # form would have it sent, but not the token
    response = await web_client.post(product_url(web_shop), data=checkout_form(web_shop))
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "別のサイトから送信された" in response.text and "Traceback" not in response.text
    assert await query(web_settings, sa.select(Order.id)) == []


async def test_refusal_is_in_english_for_an_english_visitor(
    web_client: FormClient, web_shop: Shop
) -> None:
    web_client.send_csrf = False
    response = await web_client.post(
        product_url(web_shop) + "?lang=en",
        data=checkout_form(web_shop),
        headers={"accept-language": "en"},
    )
    assert response.status_code == 403 and "sent from another site" in response.text


async def test_a_token_of_another_browser_is_refused(
    web_client: FormClient, web_shop: Shop, web_settings: Settings
) -> None:
    """The token must match this browser's cookie, not merely be one the server signed."""
    others = await fetch_token(web_client, product_url(web_shop))
    web_client.cookies.clear()
    await web_client.get(product_url(web_shop))  # a fresh cookie with another token
    web_client.send_csrf = False
    response = await web_client.post(
        product_url(web_shop), data={**checkout_form(web_shop), FORM_FIELD: others}
    )
    assert response.status_code == 403
    assert await query(web_settings, sa.select(Order.id)) == []


async def test_an_api_client_gets_the_detail_and_code_shape(
    web_client: FormClient, web_shop: Shop
) -> None:
    web_client.send_csrf = False
    response = await web_client.post(
        f"/shop/{web_shop.slug}/my/",
        data={"email": "hanako@example.jp"},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "csrf_failed" and "別のサイト" in body["detail"]


async def test_my_page_link_request_without_the_token_sends_no_mail(
    web_client: FormClient, web_shop: Shop, web_settings: Settings
) -> None:
    page = await web_client.get(f"/shop/{web_shop.slug}/my/")
    assert len(set(re.findall(rf'name="{FORM_FIELD}" value="([^"]+)"', page.text))) == 1
    page_token(page.text)  # both login forms carry it
    web_client.send_csrf = False
    refused = await web_client.post(f"/shop/{web_shop.slug}/my/", data={"email": "a@example.jp"})
    assert refused.status_code == 403
    assert await query(web_settings, sa.select(OutboxMessage.id)) == []


async def test_the_csrf_cookie_is_http_only_and_same_site(
    web_client: FormClient, web_shop: Shop
) -> None:
    response = await web_client.get(product_url(web_shop))
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE_NAME))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # served over plain HTTP here


@pytest.fixture
def tls_shop(tmp_path: Path) -> tuple[Settings, Shop]:
    settings = make_settings(tmp_path, base_url="https://shop.example")
    return settings, asyncio.run(build_shop(settings))


async def test_the_csrf_cookie_is_secure_when_served_over_https(
    tls_shop: tuple[Settings, Shop],
) -> None:
    settings, shop = tls_shop
    app = create_app(settings, background=False)
    async with AsyncTestClient(app, base_url="https://shop.example") as client:
        response = await client.get(product_url(shop), headers=BROWSER_HEADERS)
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE_NAME))
    assert "Secure" in cookie


async def test_json_apis_and_webhooks_take_no_csrf_token(
    web_client: FormClient, web_shop: Shop
) -> None:
    """Bearer-token APIs and the providers' notifications are judged by their own checks."""
    web_client.send_csrf = False
    login = await web_client.post(
        "/api/v1/auth/login",
        json={"facility": web_shop.slug, "email": "nobody@example.jp", "password": "x" * 12},
    )
    webhook = await web_client.post(
        f"/api/v1/payments/paypay/webhook/{web_shop.slug}", content=b"{}"
    )
    assert login.status_code == 401
    assert webhook.status_code == 404  # the plugin is not enabled here: not a CSRF refusal


async def test_unsubscribe_form_carries_the_token_and_a_bare_post_is_refused(
    web_client: FormClient,
) -> None:
    form = await web_client.get("/unsubscribe/forged")
    assert form.status_code == 404  # a forged link shows no form at all
    web_client.send_csrf = False
    refused = await web_client.post("/unsubscribe/forged")
    assert refused.status_code == 403
