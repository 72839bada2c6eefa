"""Posting visitor forms with their CSRF token, as a browser does (issue 16).

The core refuses a form POST without the token its pages put in every form (and in the
``kippu_csrf`` cookie). Tests post forms the honest way: :func:`page_token` reads the
hidden ``_csrf_token`` field of a fetched page; :class:`FormClient` is a test client that
adds the token of its cookie jar to each form it posts to a visitor page, fetching the
page (or the page above a form target) first when the jar has none yet: a browser always
has the page it posts from.
The check itself is never switched off: a test of the refusal posts without the token.
"""

from __future__ import annotations

import re
from html import escape, unescape
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from core_service.platform.csrf import COOKIE_NAME, FORM_FIELD

_FIELD = re.compile(rf'<input type="hidden" name="{FORM_FIELD}" value="([^"]+)"')
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def page_tokens(html: str) -> list[str]:
    """The CSRF token of each form in a page, in order."""
    return [unescape(m) for m in _FIELD.findall(html)]


def page_token(html: str) -> str:
    """The CSRF token the page's forms carry; fails if the page has no form with one."""
    tokens = page_tokens(html)
    assert tokens, "the page has no form carrying a CSRF token"
    assert len(set(tokens)) == 1, "a page's forms carry one token"
    return tokens[0]


async def fetch_token(client: httpx.AsyncClient, page_url: str) -> str:
    """Open ``page_url`` and read its forms' token (the cookie is kept by the client)."""
    page = await client.get(page_url)
    assert page.status_code == 200, (page.status_code, page.text[-800:])
    return page_token(page.text)


class FormClient(AsyncTestClient[Any]):
    """A test client whose form posts to visitor pages carry the CSRF token.

    JSON APIs (``/api/…``) are left as they are: they take no CSRF token.
    Set ``send_csrf = False`` to post like another site would.
    """

    send_csrf = True

    async def request(self, method: str, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        target = self.base_url.join(str(url))
        if self.send_csrf and method.upper() in _UNSAFE and not target.path.startswith("/api/"):
            token = self._cookie_token(target) or await self._token_from_page(url)
            data = kwargs.get("data")
            if kwargs.get("content") is None and (data is None or isinstance(data, dict)):
                kwargs["data"] = {**(data or {}), FORM_FIELD: token}
            else:
                kwargs["headers"] = {**dict(kwargs.get("headers") or {}), "x-csrftoken": token}
        return await super().request(method, url, **kwargs)

    def _cookie_token(self, target: httpx.URL) -> str | None:
        """The token cookie the browser would send to ``target``'s host (tests may reach
        the app under more than one host name, each with its own cookie)."""
        for cookie in self.cookies.jar:
            if cookie.name == COOKIE_NAME and cookie.domain.lstrip(".") == target.host:
                return cookie.value
        return None

    async def _token_from_page(self, url: httpx.URL | str) -> str:
        """Open the page the form is on: the URL itself, else the page above it (a
        form's target such as ``…/my/logout`` has no page of its own)."""
        target = self.base_url.join(str(url))
        path = target.path
        while True:
            await super().request("GET", target.copy_with(path=path, query=None))
            token = self._cookie_token(target)
            if token or path.count("/") <= 1:
                break
            path = path.rstrip("/").rsplit("/", 1)[0] + "/"
        assert token, f"no page at or above {url} set a CSRF cookie"
        return token


_XSRF = re.compile(r'<input type="hidden" name="_xsrf" value="([^"]+)"')


def xsrf_token(html: str) -> str:
    """The ``_xsrf`` token of the workbench's login form (Tornado's ``xsrf_form_html``)."""
    found = _XSRF.findall(html)
    assert found, "the page has no _xsrf field"
    return unescape(found[0])


def forging_page(action: str, fields: dict[str, str]) -> str:
    """Another site's page that posts ``fields`` to ``action`` as soon as it loads: what
    a forged request looks like (it can set any field but the token it cannot read)."""
    inputs = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    return (
        "<!DOCTYPE html><html><body><p>Win a prize!</p>"
        f'<form id="forged" method="post" action="{escape(action)}">{inputs}</form>'
        "<script>document.getElementById('forged').submit()</script></body></html>"
    )
