"""The web checkout from product page to ticket page, through the demo 3-D Secure page."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.models import Capacity, ConsentRecord, Customer, Order, OutboxMessage, Ticket
from core_service.platform.settings import Settings
from core_service.storefront.ticket_page import qr_svg
from kippu_contract.tokens import KIND_TICKET, verify_token
from tests.support.web import (
    PRODUCT_CODE,
    Shop,
    build_shop,
    checkout_form,
    find_all,
    pay_with_demo,
    product_url,
    query,
    visit_day,
)


async def count(web_settings: Settings, model: Any) -> int:
    rows = await query(web_settings, sa.select(sa.func.count()).select_from(model))
    return int(rows[0][0])


async def test_shop_lists_web_products(web_client: AsyncTestClient[Any], web_shop: Shop) -> None:
    page = await web_client.get(f"/shop/{web_shop.slug}/")
    assert page.status_code == 200
    assert "入場券" in page.text
    assert f'href="/shop/{web_shop.slug}/products/{PRODUCT_CODE}"' in page.text
    assert "1,800円" in page.text


async def test_product_page_has_accessible_form(
    web_client: AsyncTestClient[Any], web_shop: Shop
) -> None:
    page = (await web_client.get(product_url(web_shop))).text
    assert '<html lang="ja">' in page
    assert page.count('name="visit_date"') == 30
    assert f'<label for="qty-{web_shop.adult_id}">' in page
    assert "<legend>ご来場日</legend>" in page
    # The consent plugin's full waiver text is on the page, not only its label.
    assert "施設内での怪我について" in page
    assert 'name="consent_waiver"' in page


async def test_happy_path_shows_one_verified_qr_code_per_ticket(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    response = await web_client.post(product_url(web_shop), data=checkout_form(web_shop))
    assert response.headers["location"].startswith(f"http://shop.test/demo-pay/{web_shop.slug}/")
    ticket_page = await pay_with_demo(web_client, response)
    assert ticket_page.status_code == 200
    html = ticket_page.text
    tokens = find_all(r'data-token="([^"]+)"', html)
    assert len(tokens) == 3
    ticket_ids = {row[0] for row in await query(web_settings, sa.select(Ticket.id))}
    claims = [verify_token(token, web_shop.public_key) for token in tokens]
    assert {c.subject_id for c in claims} == ticket_ids
    assert all(c.kind == KIND_TICKET and c.facility_id == web_shop.facility_id for c in claims)
    # Each QR code on the page encodes exactly its token.
    assert qr_svg(tokens[0], "入場券 大人 #1") in html
    assert html.count("<svg") == 3
    assert "大人" in html and "こども" in html
    day = visit_day()
    assert f"{day.month}月{day.day}日" in html


async def test_paid_order_records_consent_and_customer(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await pay_with_demo(
        web_client, await web_client.post(product_url(web_shop), data=checkout_form(web_shop))
    )
    consent = await query(web_settings, sa.select(ConsentRecord.field, ConsentRecord.text))
    assert consent[0][0] == "consent_waiver" and "施設内での怪我" in consent[0][1]
    customer = await query(web_settings, sa.select(Customer.email, Customer.name))
    assert customer == [("hanako@example.jp", "山田花子")]
    status = await query(web_settings, sa.select(Order.status, Order.channel, Order.total))
    assert status == [("paid", "web", 4500)]


async def test_missing_consent_reshows_form_with_typed_values(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    form = checkout_form(web_shop, consent_waiver=None, marketing_opt_in="on")
    response = await web_client.post(product_url(web_shop), data=form)
    assert response.status_code == 422
    html = response.text
    assert re.search(r'id="consent_waiver-error" role="alert">購入するには同意が必要です。', html)
    assert 'value="Hanako@Example.jp"' in html
    assert 'value="山田花子"' in html
    assert re.search(
        rf'name="qty_{web_shop.adult_id}" id="qty-{web_shop.adult_id}"\s+value="2"', html
    )
    assert re.search(
        rf'name="qty_{web_shop.child_id}" id="qty-{web_shop.child_id}"\s+value="1"', html
    )
    assert re.search(rf'value="{visit_day().isoformat()}"\s+checked', html)
    assert re.search(r'id="marketing_opt_in"\s+checked', html)
    assert not re.search(r'id="consent_waiver"\s+checked', html)
    assert await count(web_settings, Order) == 0
    assert await count(web_settings, Customer) == 0


async def test_every_field_error_is_shown_at_once(
    web_client: AsyncTestClient[Any], web_shop: Shop
) -> None:
    form = checkout_form(
        web_shop,
        consent_waiver=None,
        email="not-an-address",
        visit_date=None,
        **{f"qty_{web_shop.adult_id}": "0", f"qty_{web_shop.child_id}": "0"},
    )
    html = (await web_client.post(product_url(web_shop), data=form)).text
    for field in ("visit_date", "quantities", "email", "consent_waiver"):
        assert f'id="{field}-error" role="alert"' in html


async def test_not_enough_places_shows_sold_out_and_writes_nothing(
    web_client: AsyncTestClient[Any], web_settings: Settings
) -> None:
    small = await build_shop(web_settings, slug="tiny", daily_capacity=2)
    response = await web_client.post(product_url(small), data=checkout_form(small))
    assert response.status_code == 409
    assert 'id="form-error"' in response.text
    assert "ご希望の枚数の空きがありません" in response.text
    assert await count(web_settings, Order) == 0
    held = await query(web_settings, sa.select(Capacity.held, Capacity.sold))
    assert all(row == (0, 0) for row in held)


async def test_sold_out_date_is_disabled_and_refused(
    web_client: AsyncTestClient[Any], web_settings: Settings
) -> None:
    small = await build_shop(web_settings, slug="tiny", daily_capacity=3)
    await pay_with_demo(
        web_client, await web_client.post(product_url(small), data=checkout_form(small))
    )
    page = (await web_client.get(product_url(small))).text
    assert re.search(rf'value="{visit_day().isoformat()}"\s+disabled', page)
    again = await web_client.post(
        product_url(small), data=checkout_form(small, checkout_id="other")
    )
    assert again.status_code == 409
    assert "この日は売り切れました" in again.text
    assert await count(web_settings, Order) == 1


async def test_resubmitted_checkout_does_not_buy_twice(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    first = await web_client.post(product_url(web_shop), data=checkout_form(web_shop))
    await pay_with_demo(web_client, first)
    second = await web_client.post(product_url(web_shop), data=checkout_form(web_shop))
    assert second.status_code == 303
    assert "/orders/" in second.headers["location"]  # straight to the paid tickets
    assert await count(web_settings, Order) == 1
    assert await count(web_settings, Ticket) == 3


async def test_availability_marker_shown_when_plugin_enabled(
    web_client: AsyncTestClient[Any], web_shop: Shop
) -> None:
    page = (await web_client.get(product_url(web_shop))).text
    assert page.count('class="marker marker-plenty"') == 30
    assert "〇" in page


async def test_no_marker_when_plugin_disabled(
    web_client: AsyncTestClient[Any], web_settings: Settings
) -> None:
    plain = await build_shop(web_settings, slug="plain", plugins=("demo_payments",))
    page = (await web_client.get(product_url(plain))).text
    assert "〇" not in page and "△" not in page and 'class="marker' not in page
    # Without the consent plugin there is no waiver either, and buying still works.
    assert "consent_waiver" not in page
    form = checkout_form(plain, consent_waiver=None)
    tickets = await pay_with_demo(web_client, await web_client.post(product_url(plain), data=form))
    assert len(find_all(r'data-token="([^"]+)"', tickets.text)) == 3


async def test_few_left_marker(web_client: AsyncTestClient[Any], web_settings: Settings) -> None:
    small = await build_shop(web_settings, slug="tiny", daily_capacity=5)
    page = (await web_client.get(product_url(small))).text
    assert "△" in page and "〇" not in page.split("<main")[1].split('<p class="hint">〇')[0]


async def test_facility_without_payment_provider_cannot_sell(
    web_client: AsyncTestClient[Any], web_settings: Settings
) -> None:
    closed = await build_shop(web_settings, slug="closed", plugins=())
    response = await web_client.post(
        product_url(closed), data=checkout_form(closed, consent_waiver=None)
    )
    assert response.status_code == 409
    assert "現在オンライン販売はご利用いただけません" in response.text
    assert await count(web_settings, Order) == 0


async def test_confirmation_mail_is_queued_once_paid(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    response = await web_client.post(product_url(web_shop), data=checkout_form(web_shop))
    assert await count(web_settings, OutboxMessage) == 0  # nothing before payment
    await pay_with_demo(web_client, response)
    rows = await query(web_settings, sa.select(OutboxMessage))
    assert len(rows) == 1
    mail = rows[0][0]
    code, key = (await query(web_settings, sa.select(Order.code, Order.access_key)))[0]
    assert mail.kind == "order_confirmation" and mail.to_address == "hanako@example.jp"
    assert code in mail.subject
    ticket_url = f"http://shop.test/shop/{web_shop.slug}/orders/{code}?key={key}"
    assert ticket_url in mail.body_text
    assert ticket_url.replace("&", "&amp;") in mail.body_html or ticket_url in mail.body_html
    assert f"http://shop.test/shop/{web_shop.slug}/my/login?token=" in mail.body_text


async def test_ticket_page_needs_the_right_key(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    await pay_with_demo(
        web_client, await web_client.post(product_url(web_shop), data=checkout_form(web_shop))
    )
    code = (await query(web_settings, sa.select(Order.code)))[0][0]
    wrong = await web_client.get(f"/shop/{web_shop.slug}/orders/{code}?key=guess")
    assert wrong.status_code == 404
    assert "data-token" not in wrong.text
    other = await build_shop(web_settings, slug="other")
    key = (await query(web_settings, sa.select(Order.access_key)))[0][0]
    assert (await web_client.get(f"/shop/{other.slug}/orders/{code}?key={key}")).status_code == 404
