"""Domain errors and how they become HTTP responses.

Services raise :class:`KippuError` subclasses with a message in Japanese and English;
the exception handlers turn them into ``{"detail": ..., "code": ...}`` JSON for API
clients and a friendly page for visitors. Unexpected errors never show a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, PermissionDeniedException, ValidationException
from litestar.status_codes import (
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core_service.platform import csrf
from core_service.platform.i18n.choice import request_locale

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

    def headers(self) -> dict[str, str]:
        """HTTP headers the refusal needs besides its body."""
        return {}


class NotFound(KippuError):
    status_code = 404
    code = "not_found"


class Unauthorized(KippuError):
    status_code = 401
    code = "unauthorized"


class Forbidden(KippuError):
    status_code = 403
    code = "forbidden"


class CSRFRefused(Forbidden):
    """A form posted without this site's CSRF token (another site's, or a stale page)."""

    code = "csrf_failed"

    def __init__(self) -> None:
        super().__init__(
            "This form could not be accepted: it was sent from another site or the page is "
            "too old. Nothing was changed. Please reload the page and try again.",
            "このフォームは受け付けられませんでした。別のサイトから送信されたか、"
            "ページが古くなっています。何も変更されていません。"
            "ページを再読み込みしてもう一度お試しください。",
        )


class Conflict(KippuError):
    status_code = 409
    code = "conflict"


class SoldOut(Conflict):
    code = "sold_out"


class InvalidInput(KippuError):
    status_code = 422
    code = "invalid_input"


class TooManyAttempts(KippuError):
    """Refused for a while (login throttling); ``retry_after`` seconds until it lifts."""

    status_code = 429
    code = "too_many_attempts"

    def __init__(self, message_en: str, message_ja: str, *, retry_after: int) -> None:
        super().__init__(message_en, message_ja, retry_after=retry_after)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


#: Renders the visitor's error page (the storefront's): request, status, message.
ErrorPage = Callable[[Request[Any, Any, Any], int, str], Response[Any]]


#: SQLSTATEs of a database that is not there for the moment: class 08 (connection
#: exceptions) and the server shutting down, crashing or still starting (57P01-57P03).
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03")

#: The SQLSTATE class of PostgreSQL's data exceptions (a value the column cannot hold).
_DATA_EXCEPTION_CLASS = "22"

#: Seconds a client is asked to wait when the database is unavailable; a PostgreSQL
#: restart or fail-over takes a few.
RETRY_AFTER_SECONDS = 5


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the errors under it, a few deep: SQLAlchemy wraps the driver's error."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return
        yield seen
        seen = getattr(seen, "orig", None) or seen.__cause__


def _sqlstate(exc: BaseException) -> str:
    """The SQLSTATE a driver's error carries (asyncpg's ``sqlstate``, psycopg's ``pgcode``)."""
    return str(getattr(exc, "sqlstate", "") or getattr(exc, "pgcode", "") or "")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached right now (restarting, failed
    over, the connection dropped, the pool exhausted) rather than that the request or the
    code is wrong. The transaction the request was in did not commit, and what an earlier
    step of it may have committed is safe to meet again (a hold expires, an idempotency
    key replays the sale), so the client may retry, with the same key where it has one."""
    for seen in _causes(exc):
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, ConnectionError | PoolTimeout):
            return True
        if _sqlstate(seen).startswith(_UNAVAILABLE_STATES):
            return True
    return False


def input_out_of_range(exc: BaseException) -> bool:
    """Whether ``exc`` is the database refusing a value the request carried that no column
    can hold: an integer beyond 64 bits (SQLite's driver raises ``OverflowError`` while
    binding it) or a PostgreSQL data exception (SQLSTATE class 22: a NUL character in
    text, a number out of range, an impossible date; SQLAlchemy wraps some of asyncpg's
    as a plain ``DBAPIError``, so the driver's SQLSTATE decides). The statement failed
    and the transaction rolls back, so nothing is saved; the input, not the code, failed."""
    return any(
        isinstance(seen, OverflowError | DataError)
        or _sqlstate(seen).startswith(_DATA_EXCEPTION_CLASS)
        for seen in _causes(exc)
    )


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def exception_handlers(error_page: ErrorPage | None = None) -> dict[Any, Any]:
    """The app's handlers: JSON for API clients, ``error_page`` for browsers.

    The page renderer is passed in by the app rather than imported, because the pages
    belong to the storefront, a layer above every domain that raises these errors."""

    def respond(
        request: Request[Any, Any, Any], status: int, message: str, body: dict[str, Any]
    ) -> Response[Any]:
        if error_page is not None and _wants_html(request):
            return error_page(request, status, message)
        return Response(body, status_code=status, media_type=MediaType.JSON)

    def kippu_error(request: Request[Any, Any, Any], exc: KippuError) -> Response[Any]:
        message = exc.message(request_locale(request))
        body = {"detail": message, "code": exc.code, **exc.extra}
        response = respond(request, exc.status_code, message, body)
        response.headers.update(exc.headers())
        return response

    def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        if isinstance(exc, PermissionDeniedException) and exc.detail == csrf.REFUSAL_DETAIL:
            # Litestar's middleware says it in English only; visitors read it in their language.
            return kippu_error(request, CSRFRefused())
        body: dict[str, Any] = {"detail": exc.detail, "code": "http_error"}
        if isinstance(exc, ValidationException) and exc.extra:
            body["errors"] = exc.extra
        return respond(request, exc.status_code, str(exc.detail), body)

    def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        if database_unavailable(exc):
            return unavailable(request, exc)
        if input_out_of_range(exc):
            return out_of_range(request, exc)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        message = (
            "Something went wrong on our side. Nothing was charged twice; please try again."
            if request_locale(request) == "en"
            else "システムエラーが発生しました。二重に課金されることはありません。もう一度お試しください。"
        )
        body = {"detail": message, "code": "internal_error"}
        return respond(request, HTTP_500_INTERNAL_SERVER_ERROR, message, body)

    def out_of_range(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        # One line: the client's input, not our code, failed; the text of the driver's
        # error stays in the log (it names columns and SQL) and never reaches the client.
        log.warning("input out of range on %s %s: %r", request.method, request.url.path, exc)
        message = (
            "A value in the request is out of range or contains a character that cannot "
            "be stored (such as NUL). Nothing was saved."
            if request_locale(request) == "en"
            else "リクエストの値が範囲外か、保存できない文字（NUL など）を含んでいます。"
            "何も保存されていません。"
        )
        body = {"detail": message, "code": "invalid_input"}
        return respond(request, HTTP_422_UNPROCESSABLE_ENTITY, message, body)

    def unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        # One line, not a traceback per request: a restart fails every request in flight.
        log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
        message = (
            "The service is briefly unavailable. Nothing was charged; "
            "please try again in a few seconds."
            if request_locale(request) == "en"
            else "ただいま一時的にご利用いただけません。課金はされていません。"
            "数秒後にもう一度お試しください。"
        )
        body = {"detail": message, "code": "service_unavailable"}
        response = respond(request, HTTP_503_SERVICE_UNAVAILABLE, message, body)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    return {KippuError: kippu_error, HTTPException: http_error, Exception: unexpected_error}
