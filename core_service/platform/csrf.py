"""CSRF protection of every page a browser posts a form to (issue 16).

Litestar's CSRF middleware (:class:`litestar.config.csrf.CSRFConfig`) runs on the whole
app: a GET leaves a random, HMAC-signed token in the ``kippu_csrf`` cookie, templates put
the same token in each form (``{{ csrf_input | safe }}``), and a POST, PUT, PATCH or
DELETE without a matching token is refused with 403 before its handler runs. Another
site can make a browser send the cookie but cannot read it, so its forms never carry
the token.

Left out (:data:`EXEMPT_PATHS`) is everything under ``/api/``: the kiosk, gate and staff
APIs, authenticated by a bearer token a browser never adds by itself; the payment
providers' notifications, which are signed or re-fetched from the provider instead; and
Paidy checkout's JSON callback, which needs the order's access key.
"""

from __future__ import annotations

import html
from typing import Any

from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.template.base import csrf_token

from core_service.platform.security import purpose_secret
from core_service.platform.settings import Settings

COOKIE_NAME = "kippu_csrf"
#: The form field the middleware reads (Litestar's name; templates write ``csrf_input``).
FORM_FIELD = "_csrf_token"
#: Path patterns (regular expressions, matched at the start) the check does not apply to.
EXEMPT_PATHS = ["^/api/"]
#: The detail of the middleware's refusal, which the error handlers explain to visitors.
REFUSAL_DETAIL = "CSRF token verification failed"


def csrf_config(settings: Settings) -> CSRFConfig:
    """The app's CSRF configuration; its signing key is derived from ``secret_key``."""
    return CSRFConfig(
        secret=purpose_secret(settings.secret_key, b"kippu csrf"),
        cookie_name=COOKIE_NAME,
        # Only the server reads it (forms carry the token), so scripts need not.
        cookie_httponly=True,
        cookie_secure=settings.served_over_tls,
        cookie_samesite="lax",
        exclude=EXEMPT_PATHS,
    )


def form_field(request: Request[Any, Any, Any]) -> str:
    """The hidden token field for a form in a page not made from a template."""
    token = csrf_token({"request": request})
    return f'<input type="hidden" name="{FORM_FIELD}" value="{html.escape(token)}">'
