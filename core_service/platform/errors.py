"""Domain errors and how they become HTTP responses.

Services raise :class:`KippuError` subclasses with a message in Japanese and English;
the exception handlers turn them into ``{"detail": ..., "code": ...}`` JSON for API
clients and a friendly page for visitors. Unexpected errors never show a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = logging.getLogger(__name__)


class KippuError(Exception):
    """A refusal the user can understand; ``status_code`` is the HTTP status to use."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message_en: str, message_ja: str | None = None, **extra: Any) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_ja = message_ja or message_en
        self.extra = extra

    def message(self, locale: str) -> str:
        return self.message_ja if locale == "ja" else self.message_en


class NotFound(KippuError):
    status_code = 404
    code = "not_found"


class Unauthorized(KippuError):
    status_code = 401
    code = "unauthorized"


class Forbidden(KippuError):
    status_code = 403
    code = "forbidden"


class Conflict(KippuError):
    status_code = 409
    code = "conflict"


class SoldOut(Conflict):
    code = "sold_out"


class InvalidInput(KippuError):
    status_code = 422
    code = "invalid_input"


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def _locale(request: Request[Any, Any, Any]) -> str:
    # Same rule as the visitor pages (?lang=, kippu_lang cookie, Accept-Language), so an
    # error message is in the language of the page around it.
    from core_service.storefront.rendering import request_locale

    return request_locale(request)


def _error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
    from core_service.storefront.rendering import (
        render_error_page,  # visitor pages render errors themselves
    )

    return render_error_page(request, status, message)


def kippu_error_handler(request: Request[Any, Any, Any], exc: KippuError) -> Response[Any]:
    locale = _locale(request)
    if _wants_html(request):
        return _error_page(request, exc.status_code, exc.message(locale))
    body = {"detail": exc.message(locale), "code": exc.code, **exc.extra}
    return Response(body, status_code=exc.status_code, media_type=MediaType.JSON)


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    detail = exc.detail
    if _wants_html(request):
        return _error_page(request, exc.status_code, str(detail))
    body: dict[str, Any] = {"detail": detail, "code": "http_error"}
    if isinstance(exc, ValidationException) and exc.extra:
        body["errors"] = exc.extra
    return Response(body, status_code=exc.status_code, media_type=MediaType.JSON)


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    message = (
        "Something went wrong on our side. Nothing was charged twice; please try again."
        if _locale(request) == "en"
        else "システムエラーが発生しました。二重に課金されることはありません。もう一度お試しください。"
    )
    if _wants_html(request):
        return _error_page(request, HTTP_500_INTERNAL_SERVER_ERROR, message)
    return Response(
        {"detail": message, "code": "internal_error"},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    KippuError: kippu_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
