"""Template rendering for visitor pages, with the visitor's language.

The language is chosen from the ``lang`` query parameter, then the ``kippu_lang`` cookie,
then the browser's Accept-Language (Japanese unless the browser prefers English). A page
opened with ``?lang=`` also stores the choice in the cookie, so the language switch link
works without JavaScript.

Templates use Jinja's i18n extension (``{% trans %}`` and ``_()``). The extension's
gettext callables are passed in each page's context rather than installed on the shared
environment, because one environment serves visitors of both languages concurrently.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from jinja2.ext import _make_new_gettext, _make_new_ngettext
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from core_service.platform.i18n import (
    LOCALES,
    format_day,
    format_long_day,
    format_money,
    translations,
)

TEMPLATE_DIR = Path(__file__).parent / "templates"
LANG_COOKIE = "kippu_lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


def build_environment() -> jinja2.Environment:
    """The one Jinja environment of visitor pages and visitor e-mail."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Newstyle gettext: ``_("%(n)s left", n=3)`` formats and escapes in one step.
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    env.filters["yen"] = _yen
    env.filters["day"] = _day
    env.filters["long_day"] = _long_day
    return env


@jinja2.pass_context
def _yen(context: jinja2.runtime.Context, amount: int) -> str:
    return format_money(amount, context["locale"])


@jinja2.pass_context
def _day(context: jinja2.runtime.Context, value: Any) -> str:
    return format_day(value, context["locale"])


@jinja2.pass_context
def _long_day(context: jinja2.runtime.Context, value: Any) -> str:
    return format_long_day(value, context["locale"])


ENVIRONMENT = build_environment()


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(ENVIRONMENT))


def i18n_context(locale: str) -> dict[str, Any]:
    """What a template needs to translate: the locale and its gettext callables."""
    catalog = translations(locale)
    return {
        "locale": locale,
        "gettext": _make_new_gettext(catalog.gettext),
        "ngettext": _make_new_ngettext(catalog.ngettext),
    }


def render_string(template_name: str, locale: str, **context: Any) -> str:
    """Render a template outside a request (e-mail bodies)."""
    return ENVIRONMENT.get_template(template_name).render(**i18n_context(locale), **context)


def request_locale(request: Request[Any, Any, Any]) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else "ja"


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
