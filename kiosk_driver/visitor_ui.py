"""The visitor's pages of the touch UI: product → quantities (time slot, pass holders,
add-ons) → consent → pay → done.

State travels in the URL and hidden form fields, so every step works without JavaScript
and a page reload never repeats a payment (paying is a POST followed by a redirect).
Paying never blocks a request: the POST starts the sale on a worker thread and redirects
to ``/paying/{sale_id}``, a page that refreshes itself every second (meta refresh) and
offers Cancel while the terminal waits for a card.

Every handler declares what it takes the explicit way: the kiosk and the screens as
named dependencies (provided by :func:`kiosk_driver.app.create_app`), path and query
values with ``FromPath`` / ``FromQuery``, forms with ``URLEncodedBody``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template

from kiosk_driver.catalog import (
    addons_for,
    cart_problem,
    find_category,
    find_product,
    unit_amount,
)
from kiosk_driver.errors import CoreRefused, InvalidRequest, KioskError, OutOfService
from kiosk_driver.health import blocked_reason
from kiosk_driver.layout import PAYMENT_METHODS
from kiosk_driver.product_form import MAX_PASSES, product_form_lines
from kiosk_driver.sale import Kiosk
from kiosk_driver.sale_state import SaleState, failure
from kiosk_driver.screens import Screens
from kiosk_driver.stay import is_stay
from kiosk_driver.stay_ui import stay_done_page, stay_outcome
from kippu_contract.v1.kiosk import CatalogOut, OrderLineIn, ProductOut

log = logging.getLogger(__name__)
Form = URLEncodedBody[dict[str, Any]]


def parse_cart(raw: str) -> list[OrderLineIn]:
    """``"100:2@10:00,101:1"`` (price category id : quantity, ``@`` the time slot of a
    timed admission) as order lines."""
    lines = []
    for part in filter(None, raw.split(",")):
        category, _, rest = part.partition(":")
        quantity, _, slot = rest.partition("@")
        try:
            lines.append(OrderLineIn(int(category), int(quantity), slot=slot[:16]))
        except ValueError:
            raise InvalidRequest(400, f"bad cart {raw!r}") from None
    return lines


def cart_str(lines: list[OrderLineIn]) -> str:
    """The cart as it travels in the URL (the inverse of :func:`parse_cart`)."""
    return ",".join(
        f"{line.price_category_id}:{line.quantity}" + (f"@{line.slot}" if line.slot else "")
        for line in lines
    )


#: How a held cart (one with pass holders, see ``Kiosk.hold_cart``) travels instead.
HELD = "held:"


def cart_lines(kiosk: Kiosk, raw: str) -> list[OrderLineIn]:
    """The cart of a page: a held cart's lines, or the URL's."""
    if raw.startswith(HELD):
        lines = kiosk.held_carts.get(raw[len(HELD) :])
        if lines is None:
            raise InvalidRequest(400, "the cart is gone")
        return lines
    return parse_cart(raw)


def _catalog_or_page(
    request: Request[Any, Any, Any], kiosk: Kiosk, screens: Screens
) -> CatalogOut | Template:
    """The catalog (fresh on the start screen), or the out-of-service page."""
    try:
        catalog = kiosk.catalog(refresh=request.url.path == "/")
    except OutOfService:
        return screens.out_of_service(request, "core")
    if request.url.path == "/":
        reason = blocked_reason(kiosk)
        if reason:
            return screens.out_of_service(request, reason)
    return catalog


def _cart_view(catalog: CatalogOut, lines: list[OrderLineIn]) -> list[dict[str, Any]]:
    rows = []
    for line in lines:
        product, category = find_category(catalog, line.price_category_id)
        rows.append(
            {
                "product": product,
                "category": category,
                "quantity": line.quantity,
                "slot": line.slot,
                "holders": [h.name for h in line.holders],
                "amount": unit_amount(category) * line.quantity,
            }
        )
    return rows


@get("/", sync_to_thread=True)
def index(
    request: Request[Any, Any, Any],
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
) -> Template:
    kiosk.drop_held_carts()  # the last visitor's holders and photos go with them
    catalog = _catalog_or_page(request, kiosk, screens)
    if isinstance(catalog, Template):
        return catalog
    stays = any(product.kind == "time_stay" for product in catalog.products)
    return screens.page(request, "index.html", catalog=catalog, stays=stays, idle=False)


@get("/lang/{code:str}")
async def switch_language(
    code: FromPath[str], back: Annotated[str, QueryParameter(name="next")] = "/"
) -> Redirect:
    local = back.startswith("/") and not back.startswith("//")  # no off-site redirects
    response = Redirect(back if local else "/")
    response.set_cookie("lang", code if code in ("ja", "en") else "ja")
    return response


@get("/product/{product_id:int}", sync_to_thread=True)
def product_page(
    request: Request[Any, Any, Any],
    product_id: FromPath[int],
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
    passes: Annotated[int, QueryParameter(name="passes", ge=1, le=MAX_PASSES)] = 1,
) -> Template | Redirect:
    catalog = _catalog_or_page(request, kiosk, screens)
    if isinstance(catalog, Template):
        return catalog
    try:
        product = find_product(catalog, product_id)
    except KeyError:
        return Redirect("/")
    return _product(request, screens, catalog, product, passes)


def _product(
    request: Request[Any, Any, Any],
    screens: Screens,
    catalog: CatalogOut,
    product: ProductOut,
    passes: int = 1,
    error: str = "",
) -> Template:
    return screens.page(
        request,
        "product.html",
        400 if error else 200,
        product=product,
        addons=addons_for(catalog, product),
        passes=min(max(passes, 1), MAX_PASSES),
        max_passes=MAX_PASSES,
        error=error,
        idle=True,
    )


@post("/cart", sync_to_thread=True)
def cart(
    request: Request[Any, Any, Any],
    data: Form,
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
) -> Template | Redirect:
    catalog = kiosk.catalog()
    try:
        product = find_product(catalog, int(str(data.get("product_id", ""))))
    except (KeyError, ValueError):
        return Redirect("/")
    lines = product_form_lines(catalog, product, data)
    if not lines:
        return Redirect(f"/product/{product.id}")
    problem = cart_problem(catalog, lines)
    if problem:
        passes = int(data.get("passes", 1)) if str(data.get("passes", "")).isdigit() else 1
        return _product(request, screens, catalog, product, passes, problem)
    held = any(line.holders for line in lines)
    raw = HELD + kiosk.hold_cart(lines) if held else cart_str(lines)
    target = "/consent" if catalog.checkout_fields else "/pay"
    return Redirect(f"{target}?cart={raw}")


@get("/consent", sync_to_thread=True)
def consent(
    request: Request[Any, Any, Any],
    cart: FromQuery[str],
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
) -> Template:
    catalog = _catalog_or_page(request, kiosk, screens)
    if isinstance(catalog, Template):
        return catalog
    return screens.page(request, "consent.html", catalog=catalog, cart=cart, error=False, idle=True)


# GET and POST on one path break sync handlers returning responses (litestar 2.25),
# so each form posts to its own path.
@post("/consent/submit", sync_to_thread=True)
def consent_submit(
    request: Request[Any, Any, Any],
    data: Form,
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
) -> Template | Redirect:
    catalog = kiosk.catalog()
    answers = {f.name: data.get(f.name) == "on" for f in catalog.checkout_fields}
    cart_raw = str(data.get("cart", ""))
    if kiosk.missing_consent(catalog, answers):
        return screens.page(
            request, "consent.html", 400, catalog=catalog, cart=cart_raw, error=True, idle=True
        )
    agreed = ",".join(name for name, ok in answers.items() if ok)
    return Redirect(f"/pay?cart={cart_raw}&answers={agreed}")


@get("/pay", sync_to_thread=True)
def pay_page(
    request: Request[Any, Any, Any],
    cart: FromQuery[str],
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
    answers: FromQuery[str] = "",
    voucher: FromQuery[str] = "",
) -> Template | Redirect:
    catalog = _catalog_or_page(request, kiosk, screens)
    if isinstance(catalog, Template):
        return catalog
    try:
        lines = cart_lines(kiosk, cart)
        total = kiosk.quote(catalog, lines)
    except InvalidRequest:
        return Redirect("/")
    # A typed voucher code: the core says what it takes off (and what to charge).
    voucher, discount, refused = voucher.strip()[:32], 0, False
    if voucher:
        try:
            quoted = kiosk.voucher_quote(lines, voucher)
        except CoreRefused:
            voucher, refused = "", True
        except OutOfService:
            return screens.out_of_service(request, "core")
        else:
            voucher, discount, total = quoted.voucher_code, quoted.discount, quoted.total
    methods = [(m, *PAYMENT_METHODS.get(m, (m, m))) for m in catalog.payment_methods]
    return screens.page(
        request,
        "pay.html",
        rows=_cart_view(catalog, lines),
        total=total,
        cart=cart,
        answers=answers,
        methods=methods,
        voucher=voucher,
        discount=discount,
        voucher_refused=refused,
        idle=True,
    )


@post("/pay/submit", sync_to_thread=True)
def pay(
    request: Request[Any, Any, Any],
    data: Form,
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
) -> Template | Redirect:
    answers = {name: True for name in str(data.get("answers", "")).split(",") if name}
    reason = blocked_reason(kiosk)
    if reason:
        return screens.out_of_service(request, reason)
    raw = str(data.get("cart", ""))
    try:
        lines = cart_lines(kiosk, raw)
        sale_id = kiosk.start_sale(
            lines,
            str(data.get("method", "")),
            answers,
            screens.language(request),
            str(data.get("voucher", "")).strip()[:32],
        )
    except OutOfService as exc:
        if "in progress" in str(exc):
            return screens.page(request, "message.html", 409, key="busy", idle=True)
        return screens.out_of_service(request, "core")
    except CoreRefused as exc:
        log.error("sale refused before payment: %s", exc)
        return Redirect("/")
    # The journal has the cart now (and blanks its photos when the sale is over).
    kiosk.held_carts.pop(raw[len(HELD) :], None)
    return Redirect(f"/paying/{sale_id}")


@get("/paying/{sale_id:str}", sync_to_thread=True)
def paying(
    request: Request[Any, Any, Any],
    sale_id: FromPath[str],
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
) -> Template | Redirect:
    """Where the visitor waits; refreshes itself until the sale reaches an outcome."""
    record = kiosk.journal.get(sale_id)
    if record is None:
        return Redirect("/")
    job = kiosk.jobs.get(sale_id)
    running = job is not None and not job.done
    state, here = record.state, f"/paying/{sale_id}"
    stay = is_stay(record.request)
    if stay:
        outcome = stay_outcome(request, record, running, kiosk, screens)
        if outcome is not None:
            return outcome
    if state == SaleState.PRINTED:
        return Redirect(f"/done/{sale_id}")

    def wait(key: str, status: int = 200, **extra: Any) -> Template:
        return screens.page(
            request,
            "paying.html",
            status,
            key=key,
            sale_id=sale_id,
            refresh=1 if running else 3,
            refresh_url=here,
            amount=record.request.get("amount", 0),
            idle=False,
            **extra,
        )

    if state == SaleState.STARTED:
        return wait("paying", cancel=True) if running else wait("checking_payment")
    processing = "stay_processing" if stay else "processing"
    if state == SaleState.PAID:
        return wait(processing) if running else wait("stay_pending" if stay else "pending", 503)
    if state == SaleState.CONFIRMED:
        return wait(processing) if running else wait("printer_wait", 503)
    if state == SaleState.VOIDED:
        return screens.page(request, "message.html", 409, key="sold_out", idle=True)
    if state == SaleState.VOID_FAILED:
        return screens.page(request, "message.html", 409, key="void_failed", idle=False)
    key = {"declined": "payment_declined", "cancelled": "payment_cancelled"}.get(
        failure(record.error), "payment_failed"
    )
    return screens.page(request, "message.html", 402, key=key, idle=True)


@post("/paying/{sale_id:str}/cancel", sync_to_thread=True)
def cancel_sale(sale_id: FromPath[str], kiosk: NamedDependency[Kiosk]) -> Redirect:
    job = kiosk.jobs.get(sale_id)
    if job is not None and not job.done:
        kiosk.cancel_payment()  # the terminal decides: an approval already made stands
    return Redirect(f"/paying/{sale_id}")


def _done_page(
    request: Request[Any, Any, Any], sale_id: str, kiosk: Kiosk, screens: Screens, **extra: Any
) -> Template | Redirect:
    record = kiosk.journal.get(sale_id)
    if record is None or record.confirmation is None:
        return Redirect("/")
    if is_stay(record.request):
        return stay_done_page(request, record, kiosk, screens)
    return screens.page(
        request,
        "done.html",
        sale_id=sale_id,
        record=record,
        order=kiosk.confirmation(sale_id).order,
        idle=True,
        **extra,
    )


@get("/done/{sale_id:str}", sync_to_thread=True)
def done(
    request: Request[Any, Any, Any],
    sale_id: FromPath[str],
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
) -> Template | Redirect:
    return _done_page(request, sale_id, kiosk, screens, receipt_done=False)


@post("/receipt/{sale_id:str}", sync_to_thread=True)
def receipt(
    request: Request[Any, Any, Any],
    sale_id: FromPath[str],
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
) -> Template | Redirect:
    try:
        kiosk.print_receipt(sale_id)
    except KioskError as exc:
        log.warning("receipt for %s: %s", sale_id, exc)
    record = kiosk.journal.get(sale_id)
    printed = bool(record is not None and record.receipt_printed_at)
    return _done_page(request, sale_id, kiosk, screens, receipt_done=printed)


@post("/staff", sync_to_thread=True)
def call_staff(
    request: Request[Any, Any, Any],
    kiosk: NamedDependency[Kiosk],
    screens: NamedDependency[Screens],
) -> Template:
    log.warning("visitor called staff")
    kiosk.call_staff("visitor", request.headers.get("referer", ""))
    return screens.page(request, "message.html", key="staff_called", idle=True)


@post("/cancel-payment", sync_to_thread=True)
def cancel_payment(kiosk: NamedDependency[Kiosk]) -> Redirect:
    kiosk.cancel_payment()
    return Redirect("/")


VISITOR_ROUTES: list[HTTPRouteHandler] = [
    index,
    switch_language,
    product_page,
    cart,
    consent,
    consent_submit,
    pay_page,
    pay,
    paying,
    cancel_sale,
    done,
    receipt,
    call_staff,
    cancel_payment,
]
