"""Security headers on every response (issue 16): CSP with a nonce, framing, referrer,
HSTS behind TLS; and in a real browser, that the pages work under that policy and that
only the availability widget can be framed by another site."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from core_service.app import create_app
from core_service.demo.data import DemoFacility
from core_service.platform.settings import Settings
from tests.conftest import seed_demo
from tests.support.browser import launch_chromium, require_chromium
from tests.support.live_server import free_port, serve, serve_directory
from tests.support.web import make_settings


def _directives(policy: str) -> dict[str, list[str]]:
    return {
        name: values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }


async def test_pages_carry_a_strict_policy_with_a_fresh_nonce(
    client: AsyncTestClient, demo: DemoFacility
) -> None:
    first = await client.get(f"/shop/{demo.slug}")
    second = await client.get(f"/shop/{demo.slug}")
    assert first.status_code == 200
    policy = _directives(first.headers["content-security-policy"])
    nonce = re.search(r'<style nonce="([^"]+)">', first.text)
    assert nonce is not None and f"'nonce-{nonce.group(1)}'" in policy["style-src"]
    assert "'unsafe-inline'" not in policy["style-src"] + policy["script-src"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert first.headers["x-frame-options"] == "DENY"
    assert first.headers["referrer-policy"] == "same-origin"
    assert first.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in first.headers  # plain HTTP here
    assert second.headers["content-security-policy"] != first.headers["content-security-policy"]
    assert 'style="' not in first.text


async def test_api_answers_and_unknown_paths_carry_the_headers_too(
    client: AsyncTestClient, demo: DemoFacility
) -> None:
    for path in ("/api/v1/auth/me", "/no/such/page", f"/shop/{demo.slug}/no-such"):
        answer = await client.get(path)
        assert answer.status_code in (401, 404), path
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], path
        assert answer.headers["x-frame-options"] == "DENY", path


async def test_only_the_availability_widget_may_be_framed(
    client: AsyncTestClient, demo: DemoFacility
) -> None:
    widget = await client.get(f"/shop/{demo.slug}/availability-widget")
    assert widget.status_code == 200
    assert _directives(widget.headers["content-security-policy"])["frame-ancestors"] == ["*"]
    assert "x-frame-options" not in widget.headers


@pytest.fixture
def tls_demo(tmp_path: Path) -> tuple[Settings, DemoFacility]:
    settings = make_settings(tmp_path, base_url="https://tickets.example.jp")
    return settings, asyncio.run(seed_demo(settings))


async def test_behind_tls_responses_carry_hsts(tls_demo: tuple[Settings, DemoFacility]) -> None:
    settings, demo = tls_demo
    async with AsyncTestClient(app=create_app(settings, background=False)) as https_client:
        answer = await https_client.get(f"/shop/{demo.slug}")
    assert answer.headers["strict-transport-security"].startswith("max-age=63072000")


@pytest.fixture
def other_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A second origin (another port) serving static pages from a directory."""
    root = tmp_path / "other-site"
    root.mkdir()
    with serve_directory(root) as url:
        yield url, root


@pytest.mark.browser
def test_in_a_browser_pages_work_under_the_policy_and_only_the_widget_frames(
    tmp_path: Path, other_site: tuple[str, Path]
) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    port = free_port()
    settings = make_settings(tmp_path, base_url=f"http://127.0.0.1:{port}")
    demo = asyncio.run(seed_demo(settings))
    site_url, site_root = other_site
    with serve(create_app(settings, background=False), port=port) as base_url:
        (site_root / "embed.html").write_text(
            f'<iframe id="widget" src="{base_url}/shop/{demo.slug}/availability-widget"></iframe>'
            f'<iframe id="shop" src="{base_url}/shop/{demo.slug}"></iframe>'
        )
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                page = browser.new_page()
                violations: list[str] = []
                page.on(
                    "console",
                    lambda m: (
                        violations.append(m.text) if "Content Security Policy" in m.text else None
                    ),
                )
                page.goto(f"{base_url}/shop/{demo.slug}/products/zipline")
                # The page's own stylesheet (nonce) applied: the hidden helper is off-screen.
                hidden = page.locator(".visually-hidden").first
                assert hidden.evaluate("e => getComputedStyle(e).position") == "absolute"
                page.goto(f"{base_url}/shop/{demo.slug}/my")
                assert violations == []

                page.goto(f"{site_url}/embed.html")
                widget = page.frame_locator("#widget")
                assert widget.locator("table").count() == 1  # the widget renders framed
                page.wait_for_timeout(500)
                # The shop itself refuses to be framed: chromium shows its error page there.
                shop_links = page.frame_locator("#shop").locator(f"a[href*='/shop/{demo.slug}/']")
                assert shop_links.count() == 0
                assert any("frame-ancestors" in v for v in violations), violations
            finally:
                browser.close()
