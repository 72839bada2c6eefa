"""Rendering visitor pages in the visitor's language.

The language is chosen by :func:`core_service.platform.i18n.choice.request_locale`. A
page opened with ``?lang=`` also stores the choice in the cookie, so the language switch
link works without JavaScript. The environment and its filters come from
:mod:`core_service.platform.templating`.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from core_service.platform.i18n import (
    LOCALES,
)

# request_locale is re-exported: pages import it with render_page from here.
from core_service.platform.i18n.choice import LANG_COOKIE, LANG_COOKIE_MAX_AGE
from core_service.platform.i18n.choice import request_locale as request_locale
from core_service.platform.templating import build_environment, i18n_context

TEMPLATE_DIR = Path(__file__).parent / "templates"


ENVIRONMENT = build_environment(TEMPLATE_DIR)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(ENVIRONMENT))


def switch_language_url(request: Request[Any, Any, Any], locale: str) -> str:
    """The current page's URL in the other language (other query parameters kept)."""
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    params["lang"] = "en" if locale == "ja" else "ja"
    return f"{request.url.path}?{urlencode(params)}"


def render_page(
    request: Request[Any, Any, Any],
    template_name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    cookies: list[Cookie] | None = None,
) -> Template:
    """A visitor page in the visitor's language; remembers an explicit ``?lang=``."""
    locale = request_locale(request)
    all_cookies = list(cookies or [])
    chosen = request.query_params.get("lang")
    if chosen in LOCALES:
        all_cookies.append(
            Cookie(
                key=LANG_COOKIE,
                value=chosen,
                max_age=LANG_COOKIE_MAX_AGE,
                path="/",
                samesite="lax",
                httponly=True,
            )
        )
    full_context = {
        **i18n_context(locale),
        "switch_language_url": switch_language_url(request, locale),
        "facility": None,
        **(context or {}),
    }
    return Template(
        template_name=template_name,
        context=full_context,
        status_code=status_code,
        cookies=all_cookies,
    )


def render_error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
    # Litestar's own exceptions carry the bare English status phrase ("Not Found"); the
    # template already says that in the visitor's language, so the phrase is dropped.
    try:
        generic = HTTPStatus(status).phrase
    except ValueError:
        generic = ""
    shown = "" if message in (generic, "") else message
    return render_page(
        request, "error.html", {"status": status, "message": shown}, status_code=status
    )
