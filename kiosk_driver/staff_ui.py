"""The kiosk's staff screen, behind a PIN (``KIPPU_KIOSK_STAFF_PIN``; unset: no screen).

Staff reprint a sale's tickets (every copy marked 再発行 / REPRINT), see the sales whose
refund failed (``void_failed``: the visitor paid, got no ticket, and must be refunded by
hand with the payment reference shown here), see unfinished sales, and clear a visitor's
call. A PIN opens a session cookie for ``SESSION_SECONDS``; the screen is served on the
kiosk's local address only, like the rest of the UI.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from kiosk_driver.config import KioskConfig
from kiosk_driver.errors import KioskError
from kiosk_driver.health import blocked_reason
from kiosk_driver.sale import Kiosk
from kiosk_driver.sale_state import SaleState
from kiosk_driver.screens import Screens

log = logging.getLogger(__name__)
Form = URLEncodedBody[dict[str, Any]]
COOKIE = "kiosk_staff"
SESSION_SECONDS = 600

# Staff-facing strings are bilingual too: staff may be part-timers of either language.
STAFF_STRINGS: dict[str, tuple[str, str]] = {
    "staff_menu": ("スタッフメニュー", "Staff menu"),
    "pin": ("暗証番号", "PIN"),
    "wrong_pin": ("暗証番号が違います", "Wrong PIN"),
    "login": ("開く", "Open"),
    "logout": ("閉じる", "Close"),
    "reprint": ("再発行", "Reprint"),
    "reprinted": ("再発行しました", "Reprinted"),
    "void_failed_list": ("返金が必要なお取引", "Sales to refund by hand"),
    "recent": ("最近のお取引", "Recent sales"),
    "clear_call": ("呼出しを解除", "Clear the call"),
    "called": ("お客様がスタッフを呼んでいます", "A visitor called staff"),
    "called_printer": ("プリンターの不具合でスタッフを呼び出しました", "The printer called staff"),
    "staff_off": ("スタッフメニューは設定されていません", "The staff menu is not set up"),
    "status": ("状態", "Status"),
}


class StaffSessions:
    """Open staff sessions: cookie token → expiry on the monotonic clock (memory only, so
    a restart of the driver closes them all)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._expiry: dict[str, float] = {}
        self._clock = clock

    def open(self) -> str:
        """A new session's token, valid for ``SESSION_SECONDS``."""
        token = secrets.token_urlsafe(24)
        self._expiry[token] = self._clock() + SESSION_SECONDS
        return token

    def close(self, token: str) -> None:
        self._expiry.pop(token, None)

    def authorised(self, request: Request[Any, Any, Any]) -> bool:
        """Whether the request carries the cookie of a session still open."""
        expiry = self._expiry.get(request.cookies.get(COOKIE, ""))
        return expiry is not None and expiry > self._clock()


def _staff_page(
    request: Request[Any, Any, Any], screens: Screens, status: int = 200, **context: Any
) -> Template:
    ja = screens.language(request) == "ja"

    def s(key: str) -> str:
        return STAFF_STRINGS[key][0 if ja else 1]

    return screens.page(request, "staff.html", status, s=s, idle=True, **context)


@get("/staff-menu", sync_to_thread=True)
def menu(
    request: Request[Any, Any, Any],
    kiosk: NamedDependency[Kiosk],
    config: NamedDependency[KioskConfig],
    screens: NamedDependency[Screens],
    staff_sessions: NamedDependency[StaffSessions],
    done: FromQuery[str] = "",
    error: FromQuery[str] = "",
) -> Template:
    if not config.staff_pin:
        return _staff_page(request, screens, 404, mode="off")
    if not staff_sessions.authorised(request):
        return _staff_page(request, screens, mode="login", wrong=bool(error))
    return _staff_page(
        request,
        screens,
        mode="menu",
        recent=kiosk.journal.recent(30),
        void_failed=kiosk.journal.in_state(SaleState.VOID_FAILED),
        called=kiosk.staff_called,
        call_reason=kiosk.last_call[0],
        reason=blocked_reason(kiosk),
        done=done,
        error=error,
    )


@post("/staff-menu/login", sync_to_thread=True)
def login(
    data: Form,
    config: NamedDependency[KioskConfig],
    staff_sessions: NamedDependency[StaffSessions],
) -> Redirect:
    pin = str(data.get("pin", ""))
    if not config.staff_pin or not hmac.compare_digest(pin, config.staff_pin):
        log.warning("wrong staff PIN on the kiosk")
        return Redirect("/staff-menu?error=pin")
    response = Redirect("/staff-menu")
    response.set_cookie(COOKIE, staff_sessions.open(), httponly=True, samesite="strict")
    return response


@post("/staff-menu/logout", sync_to_thread=True)
def logout(
    request: Request[Any, Any, Any], staff_sessions: NamedDependency[StaffSessions]
) -> Redirect:
    staff_sessions.close(request.cookies.get(COOKIE, ""))
    response = Redirect("/")
    response.delete_cookie(COOKIE)
    return response


@post("/staff-menu/reprint/{sale_id:str}", sync_to_thread=True)
def reprint(
    request: Request[Any, Any, Any],
    sale_id: FromPath[str],
    kiosk: NamedDependency[Kiosk],
    staff_sessions: NamedDependency[StaffSessions],
) -> Redirect:
    if not staff_sessions.authorised(request):
        return Redirect("/staff-menu")
    try:
        kiosk.reprint(sale_id)
    except KioskError as exc:
        log.warning("reprint of %s: %s", sale_id, exc)
        return Redirect(f"/staff-menu?error={type(exc).__name__}")
    log.info("staff reprinted %s", sale_id)
    return Redirect(f"/staff-menu?done={sale_id}")


@post("/staff-menu/clear-call", sync_to_thread=True)
def clear_call(
    request: Request[Any, Any, Any],
    kiosk: NamedDependency[Kiosk],
    staff_sessions: NamedDependency[StaffSessions],
) -> Redirect:
    if staff_sessions.authorised(request):
        kiosk.staff_called = False
    return Redirect("/staff-menu")


STAFF_ROUTES: list[HTTPRouteHandler] = [menu, login, logout, reprint, clear_call]
