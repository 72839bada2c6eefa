"""Which language a request is answered in.

The ``lang`` query parameter, then the ``kippu_lang`` cookie, then the browser's
Accept-Language (Japanese unless the browser prefers English). Visitor pages and error
answers follow the same rule, so an error is in the language of the page around it.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from core_service.platform.i18n import LOCALES

LANG_COOKIE = "kippu_lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


def request_locale(request: Request[Any, Any, Any]) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else "ja"
