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
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from kiosk_driver.config import KioskConfig
from kiosk_driver.errors import KioskError
from kiosk_driver.health import blocked_reason
from kiosk_driver.sale import Kiosk
from kiosk_driver.sale_state import SaleState

log = logging.getLogger(__name__)
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
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
    "staff_off": ("スタッフメニューは設定されていません", "The staff menu is not set up"),
    "status": ("状態", "Status"),
}


def staff_routes(
    kiosk: Kiosk, config: KioskConfig, page: Callable[..., Template]
) -> list[HTTPRouteHandler]:
    """Route handlers for the staff screen; ``page`` renders like the visitor pages."""
    sessions: dict[str, float] = {}  # token -> expiry (monotonic)

    def authorised(request: Request) -> bool:
        token = request.cookies.get(COOKIE, "")
        expiry = sessions.get(token)
        return expiry is not None and expiry > time.monotonic()

    def staff_page(request: Request, status: int = 200, **context: Any) -> Template:
        lang = request.cookies.get("lang", config.locale)

        def s(key: str) -> str:
            return STAFF_STRINGS[key][0 if lang == "ja" else 1]

        return page(request, "staff.html", status, s=s, idle=True, **context)

    @get("/staff-menu", sync_to_thread=True)
    def menu(request: Request, done: str = "", error: str = "") -> Template:
        if not config.staff_pin:
            return staff_page(request, 404, mode="off")
        if not authorised(request):
            return staff_page(request, mode="login", wrong=bool(error))
        return staff_page(
            request,
            mode="menu",
            recent=kiosk.journal.recent(30),
            void_failed=kiosk.journal.in_state(SaleState.VOID_FAILED),
            called=kiosk.staff_called,
            reason=blocked_reason(kiosk),
            done=done,
            error=error,
        )

    @post("/staff-menu/login", sync_to_thread=True)
    def login(request: Request, data: Form) -> Redirect:
        pin = str(data.get("pin", ""))
        if not config.staff_pin or not hmac.compare_digest(pin, config.staff_pin):
            log.warning("wrong staff PIN on the kiosk")
            return Redirect("/staff-menu?error=pin")
        token = secrets.token_urlsafe(24)
        sessions[token] = time.monotonic() + SESSION_SECONDS
        response = Redirect("/staff-menu")
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @post("/staff-menu/logout", sync_to_thread=True)
    def logout(request: Request) -> Redirect:
        sessions.pop(request.cookies.get(COOKIE, ""), None)
        response = Redirect("/")
        response.delete_cookie(COOKIE)
        return response

    @post("/staff-menu/reprint/{sale_id:str}", sync_to_thread=True)
    def reprint(request: Request, sale_id: FromPath[str]) -> Redirect:
        if not authorised(request):
            return Redirect("/staff-menu")
        try:
            kiosk.reprint(sale_id)
        except KioskError as exc:
            log.warning("reprint of %s: %s", sale_id, exc)
            return Redirect(f"/staff-menu?error={type(exc).__name__}")
        log.info("staff reprinted %s", sale_id)
        return Redirect(f"/staff-menu?done={sale_id}")

    @post("/staff-menu/clear-call", sync_to_thread=True)
    def clear_call(request: Request) -> Redirect:
        if authorised(request):
            kiosk.staff_called = False
        return Redirect("/staff-menu")

    return [menu, login, logout, reprint, clear_call]
