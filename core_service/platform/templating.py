"""Jinja environments with kippu's translations: visitor pages and visitor e-mail.

Templates use Jinja's i18n extension (``{% trans %}`` and ``_()``). The extension's
gettext callables are passed in each render's context rather than installed on the
environment, because one environment serves visitors of both languages concurrently.
The storefront builds one environment over its page templates, mailing one over its
mail templates; both get the same filters and catalogs, so a wording fix applies to page
and mail alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from jinja2.ext import _make_new_gettext, _make_new_ngettext

from core_service.platform.i18n import format_day, format_long_day, format_money, translations
from core_service.platform.security_headers import csp_nonce


def build_environment(template_dir: Path) -> jinja2.Environment:
    """A Jinja environment over ``template_dir`` with the i18n extension and filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
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
    env.globals["csp_nonce"] = csp_nonce
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


def i18n_context(locale: str) -> dict[str, Any]:
    """What a template needs to translate: the locale and its gettext callables."""
    catalog = translations(locale)
    return {
        "locale": locale,
        "gettext": _make_new_gettext(catalog.gettext),
        "ngettext": _make_new_ngettext(catalog.ngettext),
    }


def render_string(
    environment: jinja2.Environment, template_name: str, locale: str, **context: Any
) -> str:
    """Render a template outside a request (e-mail bodies)."""
    return environment.get_template(template_name).render(**i18n_context(locale), **context)
