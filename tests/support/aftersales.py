"""Shared steps of the after-sales tests (distribution, group check-in, receipts,
cancellation): buy on the web shop of the demo facility, log in to My Page, log in as
staff, scan at the gate, change the facility's settings. Works on SQLite and PostgreSQL
(the ``client``/``demo``/``db_settings`` fixtures of conftest)."""

from __future__ import annotations

import re
import uuid
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from core_service.demo.data import DEMO_PASSWORD, DemoFacility, demo_staff_email
from core_service.models import Facility, Order, Ticket
from core_service.platform import urls
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from tests.support.web import BROWSER_HEADERS, pay_with_demo, query, run_in_session, visit_day

EMAIL = "hanako@example.jp"


def html_client(client: AsyncTestClient[Any]) -> AsyncTestClient[Any]:
    client.headers.update(BROWSER_HEADERS)
    client.follow_redirects = False
    return client


async def buy_online(
    client: AsyncTestClient[Any],
    demo: DemoFacility,
    *,
    adults: int = 2,
    children: int = 1,
    email: str = EMAIL,
    days_ahead: int = 3,
    voucher_code: str = "",
) -> tuple[str, str]:
    """Buy on the web and pay with the demo card; (order code, access key)."""
    html_client(client)
    form = {
        "checkout_id": str(uuid.uuid4()),
        "visit_date": visit_day(days_ahead=days_ahead).isoformat(),
        f"qty_{demo.adult_category_id}": str(adults),
        f"qty_{demo.child_category_id}": str(children),
        "email": email,
        "name": "山田花子",
        "consent_waiver": "on",
        "payment": "demo:card",
        "voucher_code": voucher_code,
    }
    response = await client.post(f"/shop/{demo.slug}/products/day", data=form)
    page = await pay_with_demo(client, response)
    assert page.status_code == 200, page.text
    parts = urlsplit(str(page.url))
    code = parts.path.rsplit("/", 1)[1]
    return code, parse_qs(parts.query)["key"][0]


def order_path(demo: DemoFacility, code: str, key: str, **extra: str) -> str:
    return urls.order_path(demo.slug, code, key, **extra)


async def tickets_of(settings: Settings, code: str) -> list[Ticket]:
    rows = await query(
        settings,
        sa.select(Ticket)
        .join(Order, Order.id == Ticket.order_id)
        .where(Order.code == code)
        .order_by(Ticket.id),
    )
    return [r[0] for r in rows]


async def order_row(settings: Settings, code: str) -> Order:
    return (await query(settings, sa.select(Order).where(Order.code == code)))[0][0]


def data_tokens(html: str) -> list[str]:
    return [unescape(t) for t in re.findall(r' data-token="([^"]+)"', html)]


def group_token_of(html: str) -> str | None:
    found = re.search(r'data-group-token="([^"]+)"', html)
    return unescape(found.group(1)) if found else None


async def scan(
    client: AsyncTestClient[Any], gate_headers: dict[str, str], token: str, direction: str = "entry"
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/gate/scan", json={"token": token, "direction": direction}, headers=gate_headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def staff_headers(
    client: AsyncTestClient[Any], demo: DemoFacility, role: str = "staff"
) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login",
        json={
            "facility": demo.slug,
            "email": demo_staff_email(role, demo.slug),
            "password": DEMO_PASSWORD,
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def login_mypage(
    client: AsyncTestClient[Any], settings: Settings, demo: DemoFacility, email: str = EMAIL
) -> None:
    path = urls.magic_link_path(Signer(settings.secret_key), demo.slug, demo.facility_id, email)
    opened = await client.get(path)
    assert opened.status_code == 303, opened.text


async def update_facility_settings(settings: Settings, facility_id: int, **values: Any) -> None:
    async def work(session: Any) -> None:
        facility = await session.get(Facility, facility_id)
        facility.settings = {**(facility.settings or {}), **values}
        await session.commit()

    await run_in_session(settings, work)
