"""The demo provider's simulated 3-D Secure page: refusals, approval, decline, replays."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.models import Order, OutboxMessage, Payment, Ticket
from core_service.platform.settings import Settings
from tests.support.web import Shop, checkout_form, find_all, product_url, query, set_plugin_enabled


async def start_checkout(client: AsyncTestClient[Any], shop: Shop) -> tuple[str, str, str]:
    """Place an order; (demo page path, approve action, order access key)."""
    response = await client.post(product_url(shop), data=checkout_form(shop))
    assert response.status_code == 303
    location = response.headers["location"].removeprefix("http://shop.test")
    page = await client.get(location)
    action = find_all(r'action="([^"]+/approve)"', page.text)[0]
    key = find_all(r'name="key" value="([^"]+)"', page.text)[0]
    return location, action, key


async def test_demo_page_refuses_a_wrong_key(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    location, action, _key = await start_checkout(web_client, web_shop)
    wrong_page = await web_client.get(location.split("?")[0] + "?key=wrong")
    assert wrong_page.status_code == 403
    assert "Approve" not in wrong_page.text and "承認する" not in wrong_page.text
    refused = await web_client.post(action, data={"key": "wrong"})
    assert refused.status_code == 403
    assert (await query(web_settings, sa.select(Order.status)))[0][0] == "pending"


async def test_demo_page_refuses_facilities_without_the_plugin(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    location, action, key = await start_checkout(web_client, web_shop)
    await set_plugin_enabled(web_settings, web_shop.facility_id, "demo_payments", False)
    assert (await web_client.get(location)).status_code == 404
    assert (await web_client.post(action, data={"key": key})).status_code == 404
    assert (await query(web_settings, sa.select(Payment.state)))[0][0] == "pending"


async def test_approving_twice_issues_tickets_once(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    _location, action, key = await start_checkout(web_client, web_shop)
    first = await web_client.post(action, data={"key": key})
    second = await web_client.post(action, data={"key": key})
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    tickets = await query(web_settings, sa.select(sa.func.count()).select_from(Ticket))
    assert tickets[0][0] == 3
    mails = await query(web_settings, sa.select(sa.func.count()).select_from(OutboxMessage))
    assert mails[0][0] == 1


async def test_declined_payment_can_be_retried(
    web_client: AsyncTestClient[Any], web_shop: Shop, web_settings: Settings
) -> None:
    _location, action, key = await start_checkout(web_client, web_shop)
    declined = await web_client.post(action.replace("/approve", "/decline"), data={"key": key})
    assert declined.status_code == 303
    order_page = await web_client.get(declined.headers["location"])
    assert "お支払いが承認されませんでした" in order_page.text
    assert "data-token" not in order_page.text
    retry_action = find_all(r'<form method="post" action="([^"]+/pay)"', order_page.text)[0]
    retried = await web_client.post(retry_action, data={"key": key, "payment": "demo:card"})
    assert retried.status_code == 303
    assert "/demo-pay/" in retried.headers["location"]
    states = sorted(row[0] for row in await query(web_settings, sa.select(Payment.state)))
    assert states == ["failed", "pending"]
