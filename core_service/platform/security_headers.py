"""Security headers on every response the core sends (issue 16).

- **Content-Security-Policy**: scripts and styles only from the core itself or inline
  blocks carrying this response's nonce (templates write ``nonce="{{ csp_nonce() }}"``);
  no plugins, no ``<base>`` tricks, forms post only to the core. ``style=""`` attributes
  are refused, so templates use classes. A handler that needs more (the payment page
  loads a provider's SDK) names the extra origins in its ``opt["csp_sources"]``.
- **Framing**: refused (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``) except
  for handlers with ``opt["frameable"]``: the availability widget, made to be embedded
  in a facility's own site.
- **Referrer-Policy: same-origin**: order and ticket URLs carry access keys, which must
  not travel to another site in a Referer header.
- **Strict-Transport-Security** when the core is served over HTTPS (``base_url``).
- ``X-Content-Type-Options: nosniff``.

The headers are added in ``before_send``, which sees every response (404s of unknown
paths and error pages included); a header a handler set itself is left alone.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

import jinja2
from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

NONCE_KEY = "csp_nonce"
HSTS = "max-age=63072000; includeSubDomains"

#: Where each directive may load from besides the core itself.
_BASE_POLICY: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    # QR codes and pass photos are data: URIs.
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "frame-src": ["'none'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
}


def nonce_of(scope: Scope) -> str:
    """This response's CSP nonce, made on first use."""
    state = scope.setdefault("state", {})
    nonce = state.get(NONCE_KEY)
    if nonce is None:
        nonce = state[NONCE_KEY] = secrets.token_urlsafe(18)
    return str(nonce)


@jinja2.pass_context
def csp_nonce(context: jinja2.runtime.Context) -> str:
    """The nonce for an inline ``<script>`` or ``<style>`` in a page template."""
    return nonce_of(context["request"].scope)


def content_security_policy(
    nonce: str | None, *, frameable: bool, sources: Mapping[str, Iterable[str]]
) -> str:
    policy = {name: list(values) for name, values in _BASE_POLICY.items()}
    for name, values in sources.items():
        policy[name] = [v for v in policy.get(name, []) if v != "'none'"] + list(values)
    if nonce is not None:
        policy["script-src"].append(f"'nonce-{nonce}'")
        policy["style-src"].append(f"'nonce-{nonce}'")
    policy["frame-ancestors"] = ["*"] if frameable else ["'none'"]
    return "; ".join(f"{name} {' '.join(values)}" for name, values in policy.items())


def security_headers_hook(
    *, served_over_tls: bool
) -> Callable[[Message, Scope], Coroutine[Any, Any, None]]:
    """The ``before_send`` hook adding the headers; HSTS only ``served_over_tls``."""

    # Without a nonce a handler's policy never changes: built once per handler, so API
    # answers (every gate scan, every kiosk sale) only look it up.
    without_nonce: dict[int, str] = {}

    def policy(handler: object, nonce: str | None) -> str:
        opt: Mapping[str, Any] = getattr(handler, "opt", None) or {}
        frameable = bool(opt.get("frameable"))
        sources = opt.get("csp_sources", {})
        if nonce is not None:
            return content_security_policy(nonce, frameable=frameable, sources=sources)
        key = id(handler)
        if key not in without_nonce:
            without_nonce[key] = content_security_policy(None, frameable=frameable, sources=sources)
        return without_nonce[key]

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        handler = scope.get("route_handler")
        opt: Mapping[str, Any] = getattr(handler, "opt", None) or {}
        frameable = bool(opt.get("frameable"))
        headers = MutableScopeHeaders.from_message(message)
        wanted = {
            "Content-Security-Policy": policy(handler, scope.get("state", {}).get(NONCE_KEY)),
            "Referrer-Policy": "same-origin",
            "X-Content-Type-Options": "nosniff",
        }
        if not frameable:
            wanted["X-Frame-Options"] = "DENY"
        if served_over_tls:
            wanted["Strict-Transport-Security"] = HSTS
        for name, value in wanted.items():
            if name not in headers:
                headers[name] = value

    return add_headers
