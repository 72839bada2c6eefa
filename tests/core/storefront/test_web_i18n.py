"""Japanese and English visitor pages: choosing the language, catalogs, money and dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from litestar.testing import AsyncTestClient

from core_service.platform.i18n import format_day, format_money, po_path
from tests.support import REPO_ROOT
from tests.support.web import Shop, product_url

CORE = REPO_ROOT / "core_service"


async def test_japanese_is_the_default(web_client: AsyncTestClient[Any], web_shop: Shop) -> None:
    page = await web_client.get(product_url(web_shop), headers={"accept-language": ""})
    assert '<html lang="ja">' in page.text
    assert "ご来場日" in page.text and "1,800円" in page.text
    assert ">English</a>" in page.text


async def test_browsers_preferring_english_get_english(
    web_client: AsyncTestClient[Any], web_shop: Shop
) -> None:
    page = await web_client.get(
        product_url(web_shop), headers={"accept-language": "en-US,en;q=0.8"}
    )
    assert '<html lang="en">' in page.text
    assert "Visit date" in page.text and "¥1,800" in page.text and "Day admission" in page.text
    assert ">日本語</a>" in page.text


async def test_language_switch_link_sets_a_cookie(
    web_client: AsyncTestClient[Any], web_shop: Shop
) -> None:
    switched = await web_client.get(product_url(web_shop) + "?lang=en")
    assert '<html lang="en">' in switched.text
    assert switched.cookies.get("kippu_lang") == "en"
    # The cookie wins over the browser's Japanese preference from now on.
    later = await web_client.get(f"/shop/{web_shop.slug}/")
    assert '<html lang="en">' in later.text
    assert "?lang=ja" in later.text, later.text[:2500]
    back = await web_client.get(f"/shop/{web_shop.slug}/?lang=ja")
    assert '<html lang="ja">' in back.text


async def test_unknown_language_falls_back_to_japanese(
    web_client: AsyncTestClient[Any], web_shop: Shop
) -> None:
    page = await web_client.get(product_url(web_shop) + "?lang=xx")
    assert '<html lang="ja">' in page.text
    assert "kippu_lang" not in page.headers.get("set-cookie", "")


async def test_missing_page_is_friendly_and_bilingual(web_client: AsyncTestClient[Any]) -> None:
    ja = await web_client.get("/shop/no-such-park/")
    assert ja.status_code == 404
    assert '<html lang="ja">' in ja.text and "施設が見つかりません" in ja.text
    assert "Traceback" not in ja.text
    en = await web_client.get("/shop/no-such-park/", headers={"accept-language": "en"})
    assert "We could not find this page" in en.text and "No such facility." in en.text
    unknown = await web_client.get("/no/such/path", headers={"accept-language": "en"})
    assert unknown.status_code == 404 and "We could not find this page" in unknown.text


def test_money_and_dates_follow_the_locale() -> None:
    assert format_money(1000, "ja") == "1,000円"
    assert format_money(1000, "en") == "¥1,000"
    day = dt.date(2026, 11, 25)
    assert format_day(day, "ja") == "11月25日(水)"
    assert format_day(day, "en") == "Wed, Nov 25"


def _source_messages() -> set[str]:
    found = set()
    for templates in (CORE / "storefront" / "templates", CORE / "mailing" / "templates"):
        assert templates.is_dir(), templates
        for *_, message, _comments, _context in extract_from_dir(
            templates,
            [("**.html", "jinja2"), ("**.txt", "jinja2")],
            options_map={"**": {"extensions": "jinja2.ext.i18n"}},
        ):
            found.add(message)
    for folder in (CORE / "storefront", CORE / "mailing", CORE / "platform"):
        for *_, message, _comments, _context in extract_from_dir(
            folder, [("**.py", "python")], keywords={"gettext": (2,)}
        ):
            found.add(message)
    # Hundreds of strings; a handful would mean a moved folder was not searched.
    assert len(found) > 200, len(found)
    return found


def test_every_visible_string_has_a_japanese_translation() -> None:
    with po_path("ja").open("rb") as handle:
        catalog = read_po(handle, locale="ja")
    missing = sorted(
        m for m in _source_messages() if not (catalog.get(m) and catalog.get(m).string)
    )
    assert missing == [], f"add these to {po_path('ja')}: {missing}"


def test_english_catalog_lists_the_same_messages() -> None:
    with po_path("en").open("rb") as handle:
        catalog = read_po(handle, locale="en")
    assert _source_messages() <= {m.id for m in catalog if m.id}


async def test_error_messages_follow_the_chosen_language(
    web_client: AsyncTestClient[Any],
) -> None:
    web_client.cookies.set("kippu_lang", "en")
    page = await web_client.get("/shop/no-such-park/")
    assert '<html lang="en">' in page.text and "No such facility." in page.text
