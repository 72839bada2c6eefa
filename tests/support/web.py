"""Shared setup for the web checkout, mail and browser tests.

Builds a migrated SQLite database in a temporary directory, a facility with the built-in
plugins switched on and a day-admission product, and an app client over it. Kept here
(not in conftest.py, which the lead owns) and imported by the tests that need it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.app import create_app
from core_service.facilities.setup import create_facility, set_plugin
from core_service.models import Facility, PriceCategory, Product
from core_service.platform.csrf import FORM_FIELD
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from kippu_contract.facility_time import facility_today
from tests.support.csrf import FormClient, page_token
from tests.support.migrated import migrated_sqlite

SLUG = "forest"
PRODUCT_CODE = "day"
BROWSER_HEADERS = {"accept": "text/html,application/xhtml+xml", "accept-language": "ja-JP,ja;q=0.9"}


@dataclass(frozen=True, slots=True)
class Shop:
    """Ids of what :func:`build_shop` created."""

    facility_id: int
    slug: str
    product_id: int
    adult_id: int
    child_id: int
    public_key: str


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        database_url=migrated_sqlite(tmp_path / "web.sqlite3"),
        var_dir=tmp_path,
        base_url=overrides.pop("base_url", "http://shop.test"),
        **overrides,
    )


async def build_shop(
    settings: Settings,
    *,
    slug: str = SLUG,
    plugins: tuple[str, ...] = ("consent", "availability", "demo_payments"),
    daily_capacity: int | None = 100,
) -> Shop:
    """A facility with ``plugins`` enabled and one web product (adult 1,800 / child 900)."""
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            facility = await create_facility(
                session,
                settings.secret_key,
                slug=slug,
                name_ja="森のアスレチック",
                name_en="Forest Athletics",
                contact_email="info@forest.example",
            )
            for name in plugins:
                await set_plugin(session, facility.id, name)
            product = Product(
                facility_id=facility.id,
                code=PRODUCT_CODE,
                kind="day_admission",
                name_ja="入場券",
                name_en="Day admission",
                daily_capacity=daily_capacity,
                channels=["web", "kiosk"],
            )
            session.add(product)
            await session.flush()
            adult = PriceCategory(
                facility_id=facility.id,
                product_id=product.id,
                code="adult",
                name_ja="大人",
                name_en="Adult",
                price=1800,
                sort_order=1,
            )
            child = PriceCategory(
                facility_id=facility.id,
                product_id=product.id,
                code="child",
                name_ja="こども",
                name_en="Child",
                price=900,
                sort_order=2,
            )
            session.add_all([adult, child])
            await session.commit()
            return Shop(
                facility.id, slug, product.id, adult.id, child.id, facility.signing_public_key
            )
    finally:
        await engine.dispose()


async def set_plugin_enabled(
    settings: Settings, facility_id: int, name: str, enabled: bool
) -> None:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            await set_plugin(session, facility_id, name, enabled=enabled)
            await session.commit()
    finally:
        await engine.dispose()


async def query(settings: Settings, statement: Any) -> list[Any]:
    """Rows of ``statement`` read with a separate engine (what the app really wrote)."""
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            return list((await session.execute(statement)).all())
    finally:
        await engine.dispose()


async def run_in_session(settings: Settings, work: Any) -> Any:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()


def visit_day(facility_timezone: str = "Asia/Tokyo", days_ahead: int = 3) -> dt.date:
    return facility_today(facility_timezone) + dt.timedelta(days=days_ahead)


def checkout_form(shop: Shop, **overrides: Any) -> dict[str, str]:
    """A complete, valid checkout form: 2 adults and 1 child, consent ticked."""
    form = {
        "checkout_id": "test-checkout-1",
        "visit_date": visit_day().isoformat(),
        f"qty_{shop.adult_id}": "2",
        f"qty_{shop.child_id}": "1",
        "email": "Hanako@Example.jp",
        "name": "山田花子",
        "consent_waiver": "on",
        "payment": "demo:card",
    }
    for key, value in overrides.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    return form


def product_url(shop: Shop) -> str:
    return f"/shop/{shop.slug}/products/{PRODUCT_CODE}"


def find_all(pattern: str, html: str) -> list[str]:
    return [unescape(m) for m in re.findall(pattern, html)]


async def app_client(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(settings, background=False)
    async with FormClient(app, base_url="http://shop.test") as client:
        client.headers.update(BROWSER_HEADERS)
        client.follow_redirects = False  # tests look at each redirect themselves
        yield client


async def pay_with_demo(client: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    """Follow a checkout redirect to the demo 3-DS page and approve; the ticket page."""
    assert response.status_code == 303, response.text
    pay_page = await client.get(response.headers["location"])
    assert pay_page.status_code == 200, pay_page.text
    action = find_all(r'<form method="post" action="([^"]+/approve)"', pay_page.text)[0]
    key = find_all(r'name="key" value="([^"]+)"', pay_page.text)[0]
    # The page's CSRF token, so that any client (not only FormClient) posts like a browser.
    approved = await client.post(action, data={"key": key, FORM_FIELD: page_token(pay_page.text)})
    assert approved.status_code == 303, (approved.status_code, approved.text[-1500:])
    return await client.get(approved.headers["location"])


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def web_shop(web_settings: Settings) -> Shop:
    return await build_shop(web_settings)


@pytest.fixture
async def web_client(web_settings: Settings, web_shop: Shop) -> AsyncIterator[AsyncTestClient[Any]]:
    async for c in app_client(web_settings):
        yield c


async def load_facility(session: AsyncSession, facility_id: int) -> Facility:
    facility = await session.scalar(sa.select(Facility).where(Facility.id == facility_id))
    assert facility is not None
    return facility
