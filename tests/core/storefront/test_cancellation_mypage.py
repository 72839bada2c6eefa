"""Self-cancellation from My Page (F7, F8): only where the facility enables it, within its
deadline, never for another visitor's order, once per form even on a double submit."""

from __future__ import annotations

import asyncio
import re
from html import unescape
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DemoFacility
from core_service.models import AuditLog, Cancellation, Refund
from core_service.platform.settings import Settings
from tests.support.aftersales import (
    buy_online,
    login_mypage,
    staff_headers,
    tickets_of,
    update_facility_settings,
)
from tests.support.web import query

POLICY = {
    "self_cancel": True,
    "self_cancel_until_days": 1,
    "fees": [{"days_before": 2, "percent": 10}],
}


def cancel_path(demo: DemoFacility, code: str) -> str:
    return f"/shop/{demo.slug}/my/orders/{code}/cancel"


def form_key(html: str) -> str:
    found = re.search(r'name="form_key" value="([^"]+)"', html)
    assert found is not None, html
    return unescape(found.group(1))


async def _ready(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    settings: Settings,
    policy: dict[str, Any] | None = POLICY,
    **buy: Any,
) -> str:
    if policy is not None:
        await update_facility_settings(settings, demo.facility_id, cancellation=policy)
    code, _key = await buy_online(client, demo, **buy)
    await login_mypage(client, settings, demo)
    return code


async def test_visitor_cancels_one_ticket_and_sees_the_refund(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code = await _ready(client, demo, db_settings)
    mypage = (await client.get(f"/shop/{demo.slug}/my")).text
    assert cancel_path(demo, code) in mypage
    page = await client.get(cancel_path(demo, code))
    # 3 days ahead: the 10% tier applies: 2,000 → 1,800 back.
    assert page.status_code == 200 and "返金額 1,800円(キャンセル料 200円)" in page.text
    first = (await tickets_of(db_settings, code))[0]
    done = await client.post(
        cancel_path(demo, code), data={"ticket": str(first.id), "form_key": form_key(page.text)}
    )
    assert done.status_code == 303, done.text
    after = (await client.get(done.headers["location"])).text
    assert "キャンセルが完了しました" in after and "返金済み" in after and "1,800円" in after
    assert [t.status for t in await tickets_of(db_settings, code)] == [
        "cancelled",
        "valid",
        "valid",
    ]
    actor = (await query(db_settings, sa.select(Cancellation.actor, Cancellation.self_service)))[0]
    assert actor[0].startswith("visitor:") and actor[1] is True


async def test_no_self_cancellation_unless_the_facility_enables_it(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code = await _ready(client, demo, db_settings, policy=None)
    assert cancel_path(demo, code) not in (await client.get(f"/shop/{demo.slug}/my")).text
    first = (await tickets_of(db_settings, code))[0]
    refused = await client.post(
        cancel_path(demo, code), data={"ticket": str(first.id), "form_key": "k"}
    )
    assert (
        refused.status_code == 403
        and "オンラインでのキャンセルを受け付けていません" in refused.text
    )
    assert {t.status for t in await tickets_of(db_settings, code)} == {"valid"}


async def test_no_self_cancellation_after_the_deadline(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    policy = {**POLICY, "self_cancel_until_days": 5}
    code = await _ready(client, demo, db_settings, policy=policy, days_ahead=3)
    assert cancel_path(demo, code) not in (await client.get(f"/shop/{demo.slug}/my")).text
    first = (await tickets_of(db_settings, code))[0]
    refused = await client.post(
        cancel_path(demo, code), data={"ticket": str(first.id), "form_key": "k"}
    )
    assert refused.status_code == 403 and "期限を過ぎています" in refused.text


async def test_a_double_submit_cancels_and_refunds_once(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code = await _ready(client, demo, db_settings)
    key = form_key((await client.get(cancel_path(demo, code))).text)
    first = (await tickets_of(db_settings, code))[0]
    data = {"ticket": str(first.id), "form_key": key}
    results = await asyncio.gather(
        *(client.post(cancel_path(demo, code), data=data) for _ in range(2))
    )
    assert [r.status_code for r in results] == [303, 303]
    assert len(await query(db_settings, sa.select(Cancellation.id))) == 1
    assert len(await query(db_settings, sa.select(Refund.id))) == 1
    audited = await query(
        db_settings, sa.select(AuditLog.id).where(AuditLog.action == "refund.sent")
    )
    assert len(audited) == 1


async def test_another_visitors_order_cannot_be_cancelled(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    await update_facility_settings(db_settings, demo.facility_id, cancellation=POLICY)
    theirs, _key = await buy_online(client, demo, email="other@example.jp")
    await buy_online(client, demo)
    await login_mypage(client, db_settings, demo)
    ticket = (await tickets_of(db_settings, theirs))[0]
    refused = await client.post(
        cancel_path(demo, theirs), data={"ticket": str(ticket.id), "form_key": "k"}
    )
    assert refused.status_code == 404
    assert {t.status for t in await tickets_of(db_settings, theirs)} == {"valid"}


async def test_without_login_the_cancel_page_sends_to_my_page(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    await update_facility_settings(db_settings, demo.facility_id, cancellation=POLICY)
    code, _key = await buy_online(client, demo)
    page = await client.get(cancel_path(demo, code))
    assert page.status_code == 303 and page.headers["location"] == f"/shop/{demo.slug}/my"


async def test_nothing_chosen_keeps_the_form_with_an_error(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code = await _ready(client, demo, db_settings)
    key = form_key((await client.get(cancel_path(demo, code))).text)
    page = await client.post(cancel_path(demo, code), data={"form_key": key})
    assert page.status_code == 422 and "キャンセルするチケットを選んでください" in page.text


async def test_mypage_shows_tickets_with_qr_and_distribution_status(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    code, key = await buy_online(client, demo)
    first = (await tickets_of(db_settings, code))[0]
    await client.post(
        f"/shop/{demo.slug}/orders/{code}/tickets/{first.id}/share", data={"key": key}
    )
    await login_mypage(client, db_settings, demo)
    page = (await client.get(f"/shop/{demo.slug}/my")).text
    assert "チケット(3枚)" in page and page.count("<svg") == 3
    assert "リンク送付済み(未受け取り)" in page


async def test_the_managers_switch_shows_and_then_hides_the_cancel_button(
    client: AsyncTestClient[Any], demo: DemoFacility, db_settings: Settings
) -> None:
    """The switch the workbench sets (``PUT /api/v1/facility/settings {self_cancel}``) is
    the one the policy reads: a visitor sees the button once it is on and loses it once it is
    off, and the facility's deadline and fee tiers survive both changes."""
    await update_facility_settings(
        db_settings, demo.facility_id, cancellation={**POLICY, "self_cancel": False}
    )
    code = await _ready(client, demo, db_settings, policy=None)
    manager = await staff_headers(client, demo, role="manager")

    async def switch(on: bool) -> str:
        saved = await client.put(
            "/api/v1/facility/settings", json={"self_cancel": on}, headers=manager
        )
        assert saved.status_code == 200 and saved.json()["self_cancel"] is on, saved.text
        return (await client.get(f"/shop/{demo.slug}/my")).text

    assert cancel_path(demo, code) not in (await client.get(f"/shop/{demo.slug}/my")).text
    assert cancel_path(demo, code) in await switch(True)
    page = await client.get(cancel_path(demo, code))
    assert "返金額 1,800円(キャンセル料 200円)" in page.text  # the fee tier is still there
    assert cancel_path(demo, code) not in await switch(False)
    first = (await tickets_of(db_settings, code))[0]
    refused = await client.post(
        cancel_path(demo, code), data={"ticket": str(first.id), "form_key": "k"}
    )
    assert refused.status_code == 403
