"""The visitor's "pay for my stay" (精算) pages: scan the stay ticket → what is owed →
pay on the terminal → receipt and "you may leave within 15 minutes".

The QR reader of a kiosk is a keyboard wedge: it types the QR text into the focused
field and presses Enter, so the scan page is one autofocused text field a visitor may
also type into. The payment itself runs through the sale machinery
(:meth:`kiosk_driver.sale.Kiosk.start_stay_payment`) and waits on the same
``/paying/{sale_id}`` page; that page hands a stay's outcomes to :func:`stay_outcome`.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template

from kiosk_driver.errors import CoreRefused, OrderConflict, OutOfService
from kiosk_driver.health import blocked_reason
from kiosk_driver.journal import SaleRecord
from kiosk_driver.layout import PAYMENT_METHODS
from kiosk_driver.sale import Kiosk
from kiosk_driver.sale_state import SaleState
from kiosk_driver.screens import Screens

log = logging.getLogger(__name__)
Form = URLEncodedBody[dict[str, Any]]

#: Longest QR text or typed code accepted (a QR token is far shorter).
MAX_CODE = 200


def _scan_page(
    request: Request[Any, Any, Any], screens: Screens, error: str = "", status: int = 200
) -> Template:
    return screens.page(request, "stay_scan.html", status, error=error, idle=True)


def quote_page(
    request: Request[Any, Any, Any],
    kiosk: Kiosk,
    screens: Screens,
    token: str,
    notice: str = "",
) -> Template:
    """What the stay of ``token`` owes now, with the payment buttons (or "nothing to
    pay"); ``notice`` says why the visitor sees it again (the amount changed)."""
    try:
        charge = kiosk.stay_charge(token)
        catalog = kiosk.catalog()
    except OutOfService:
        return screens.out_of_service(request, "core")
    except CoreRefused as exc:
        key = "stay_not_found" if exc.status_code == 404 else "stay_unreadable"
        return _scan_page(request, screens, key, 404 if exc.status_code == 404 else 422)
    methods = [(m, *PAYMENT_METHODS.get(m, (m, m))) for m in catalog.payment_methods]
    return screens.page(
        request, "stay.html", charge=charge, token=token, methods=methods, notice=notice, idle=True
    )


@get("/stay", sync_to_thread=True)
def stay_scan(
    request: Request[Any, Any, Any],
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
) -> Template:
    reason = blocked_reason(kiosk)
    if reason:
        return screens.out_of_service(request, reason)
    return _scan_page(request, screens)


@post("/stay/charge", sync_to_thread=True)
def stay_charge(
    request: Request[Any, Any, Any],
    data: Form,
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
) -> Template:
    """The scanned or typed code's stay: what is owed (a POST, so the code stays out of
    the URL and the browser history)."""
    token = str(data.get("code", "")).strip()
    if not token or len(token) > MAX_CODE:
        return _scan_page(request, screens, "stay_unreadable", 422)
    return quote_page(request, kiosk, screens, token)


@post("/stay/pay", sync_to_thread=True)
def stay_pay(
    request: Request[Any, Any, Any],
    data: Form,
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
) -> Template | Redirect:
    """Take the quoted amount on the terminal; a quote gone stale is shown anew first."""
    reason = blocked_reason(kiosk)
    if reason:
        return screens.out_of_service(request, reason)
    token = str(data.get("token", "")).strip()[:MAX_CODE]
    try:
        period_total = int(str(data.get("period_total", "")))
        sale_id = kiosk.start_stay_payment(
            token, str(data.get("method", "")), period_total, screens.language(request)
        )
    except ValueError:
        return _scan_page(request, screens, "stay_unreadable", 422)
    except OutOfService as exc:
        if "in progress" in str(exc):
            return screens.page(request, "message.html", 409, key="busy", idle=True)
        return screens.out_of_service(request, "core")
    except OrderConflict:  # time went on (or it was paid meanwhile): show what is owed now
        return quote_page(request, kiosk, screens, token, notice="stay_changed")
    except CoreRefused:  # a method not offered, or a code gone bad: the page says which
        return quote_page(request, kiosk, screens, token)
    return Redirect(f"/paying/{sale_id}")


def stay_done_page(
    request: Request[Any, Any, Any], record: SaleRecord, kiosk: Kiosk, screens: Screens
) -> Template | Redirect:
    """Paid: the amount, the receipt (or why it did not print) and the way out."""
    if record.confirmation is None:
        return Redirect("/")
    return screens.page(
        request,
        "stay_done.html",
        record=record,
        order=kiosk.confirmation(record.id).order,
        idle=True,
    )


def stay_outcome(
    request: Request[Any, Any, Any],
    record: SaleRecord,
    running: bool,
    kiosk: Kiosk,
    screens: Screens,
) -> Template | Redirect | None:
    """The page for a stay payment that has an outcome, or None while it is still on
    its way (the waiting page then shows it like a sale's)."""
    state = record.state
    if state == SaleState.PRINTED or (state == SaleState.CONFIRMED and not running):
        # Paid in the core: the gate lets them out, even when the receipt did not print.
        return stay_done_page(request, record, kiosk, screens)
    if state == SaleState.VOIDED:  # the core refused (time crossed a unit): quote again
        return quote_page(request, kiosk, screens, record.request["token"], notice="stay_changed")
    if state == SaleState.VOID_FAILED:
        return screens.page(request, "message.html", 409, key="stay_void_failed", idle=False)
    return None


STAY_ROUTES: list[HTTPRouteHandler] = [stay_scan, stay_charge, stay_pay]
