"""The kiosk's local touch UI (Litestar + Jinja), served on the kiosk PC only.

Flow: product → quantities → consent (if the catalog has checkout fields) → payment
method → pay on the terminal → done (tickets printed, optional receipt). State travels in
the URL and hidden form fields, so every step works without JavaScript and a page reload
never repeats a payment (paying is a POST followed by a redirect). Japanese by default,
English by the switch in the header (a cookie); every page idles back to the start.

Paying never blocks a request: the POST starts the sale on a worker thread and redirects
to ``/paying/{sale_id}``, a page that refreshes itself every second (meta refresh, no
JavaScript) and offers Cancel while the terminal waits for a card. The staff screen
(reprints, refunds owed) lives in :mod:`kiosk_driver.staff_ui`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from litestar import Litestar, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from kiosk_driver.catalog import find_category, find_product, sold_out, unit_amount
from kiosk_driver.config import KioskConfig
from kiosk_driver.errors import CoreRefused, InvalidRequest, KioskError, OutOfService
from kiosk_driver.health import blocked_reason
from kiosk_driver.layout import PAYMENT_METHODS, yen
from kiosk_driver.runtime import run_kiosk as run_kiosk  # the CLI imports it from here
from kiosk_driver.runtime import simulate_sale as simulate_sale
from kiosk_driver.sale import Kiosk
from kiosk_driver.sale_state import SaleState
from kiosk_driver.staff_ui import staff_routes
from kiosk_driver.strings import STRINGS
from kippu_contract.v1.kiosk import CatalogOut, OrderLineIn

log = logging.getLogger(__name__)
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _lang(request: Request, config: KioskConfig) -> str:
    lang = request.cookies.get("lang", config.locale)
    return lang if lang in ("ja", "en") else "ja"


def _parse_cart(raw: str) -> list[OrderLineIn]:
    lines = []
    for part in filter(None, raw.split(",")):
        category, _, quantity = part.partition(":")
        try:
            lines.append(OrderLineIn(int(category), int(quantity)))
        except ValueError:
            raise InvalidRequest(400, f"bad cart {raw!r}") from None
    return lines


def _cart_str(lines: list[OrderLineIn]) -> str:
    return ",".join(f"{line.price_category_id}:{line.quantity}" for line in lines)


def create_app(kiosk: Kiosk, config: KioskConfig | None = None) -> Litestar:
    """The Litestar app for one kiosk."""
    config = config or KioskConfig()

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Template:
        lang = _lang(request, config)
        return Template(
            template_name=name,
            status_code=status,
            context={
                "lang": lang,
                "t": lambda key: STRINGS[key][0 if lang == "ja" else 1],
                "name": lambda obj: getattr(obj, f"name_{lang}", ""),
                "label": lambda obj, attr="label": getattr(obj, f"{attr}_{lang}", ""),
                "yen": yen,
                "unit_amount": unit_amount,
                "sold_out": sold_out,
                "idle_seconds": config.idle_seconds,
                "path": request.url.path,
                **context,
            },
        )

    def out_of_service(request: Request, reason: str) -> Template:
        # The page retries by itself, so the kiosk recovers without anyone touching it.
        return page(
            request,
            "message.html",
            503,
            key="out_of_service",
            hint="out_of_service_hint",
            reason=f"reason_{reason}",
            idle=False,
            refresh=10,
        )

    def catalog_or_page(request: Request) -> CatalogOut | Template:
        try:
            catalog = kiosk.catalog(refresh=request.url.path == "/")
        except OutOfService:
            return out_of_service(request, "core")
        if request.url.path == "/":
            reason = blocked_reason(kiosk)
            if reason:
                return out_of_service(request, reason)
        return catalog

    def cart_view(catalog: CatalogOut, lines: list[OrderLineIn]) -> list[dict[str, Any]]:
        rows = []
        for line in lines:
            product, category = find_category(catalog, line.price_category_id)
            rows.append(
                {
                    "product": product,
                    "category": category,
                    "quantity": line.quantity,
                    "amount": unit_amount(category) * line.quantity,
                }
            )
        return rows

    @get("/", sync_to_thread=True)
    def index(request: Request) -> Template:
        catalog = catalog_or_page(request)
        if isinstance(catalog, Template):
            return catalog
        return page(request, "index.html", catalog=catalog, idle=False)

    @get("/lang/{code:str}")
    async def switch_language(request: Request, code: FromPath[str]) -> Redirect:
        back = request.query_params.get("next", "/")
        local = back.startswith("/") and not back.startswith("//")  # no off-site redirects
        response = Redirect(back if local else "/")
        response.set_cookie("lang", code if code in ("ja", "en") else "ja")
        return response

    @get("/product/{product_id:int}", sync_to_thread=True)
    def product_page(request: Request, product_id: FromPath[int]) -> Template | Redirect:
        catalog = catalog_or_page(request)
        if isinstance(catalog, Template):
            return catalog
        try:
            product = find_product(catalog, product_id)
        except KeyError:
            return Redirect("/")
        return page(request, "product.html", product=product, idle=True)

    @post("/cart", sync_to_thread=True)
    def cart(request: Request, data: Form) -> Redirect:
        lines = []
        for key, value in data.items():
            if key.startswith("qty_") and str(value).isdigit() and int(value) > 0:
                lines.append(OrderLineIn(int(key[4:]), int(value)))
        if not lines:
            return Redirect(f"/product/{data.get('product_id', '')}")
        catalog = kiosk.catalog()
        target = "/consent" if catalog.checkout_fields else "/pay"
        return Redirect(f"{target}?cart={_cart_str(lines)}")

    @get("/consent", sync_to_thread=True)
    def consent(request: Request, cart: FromQuery[str]) -> Template:
        catalog = catalog_or_page(request)
        if isinstance(catalog, Template):
            return catalog
        return page(request, "consent.html", catalog=catalog, cart=cart, error=False, idle=True)

    # GET and POST on one path break sync handlers returning responses (litestar 2.25),
    # so each form posts to its own path.
    @post("/consent/submit", sync_to_thread=True)
    def consent_submit(request: Request, data: Form) -> Template | Redirect:
        catalog = kiosk.catalog()
        answers = {f.name: data.get(f.name) == "on" for f in catalog.checkout_fields}
        cart_raw = str(data.get("cart", ""))
        if kiosk.missing_consent(catalog, answers):
            return page(
                request, "consent.html", 400, catalog=catalog, cart=cart_raw, error=True, idle=True
            )
        agreed = ",".join(name for name, ok in answers.items() if ok)
        return Redirect(f"/pay?cart={cart_raw}&answers={agreed}")

    @get("/pay", sync_to_thread=True)
    def pay_page(
        request: Request, cart: FromQuery[str], answers: FromQuery[str] = ""
    ) -> Template | Redirect:
        catalog = catalog_or_page(request)
        if isinstance(catalog, Template):
            return catalog
        try:
            lines = _parse_cart(cart)
            total = kiosk.quote(catalog, lines)
        except InvalidRequest:
            return Redirect("/")
        methods = [(m, *PAYMENT_METHODS.get(m, (m, m))) for m in catalog.payment_methods]
        return page(
            request,
            "pay.html",
            rows=cart_view(catalog, lines),
            total=total,
            cart=cart,
            answers=answers,
            methods=methods,
            idle=True,
        )

    @post("/pay/submit", sync_to_thread=True)
    def pay(request: Request, data: Form) -> Template | Redirect:
        lang = _lang(request, config)
        answers = {name: True for name in str(data.get("answers", "")).split(",") if name}
        reason = blocked_reason(kiosk)
        if reason:
            return out_of_service(request, reason)
        try:
            lines = _parse_cart(str(data.get("cart", "")))
            sale_id = kiosk.start_sale(lines, str(data.get("method", "")), answers, lang)
        except OutOfService as exc:
            busy = "in progress" in str(exc)
            return (
                out_of_service(request, "core")
                if not busy
                else page(request, "message.html", 409, key="busy", idle=True)
            )
        except CoreRefused as exc:
            log.error("sale refused before payment: %s", exc)
            return Redirect("/")
        return Redirect(f"/paying/{sale_id}")

    @get("/paying/{sale_id:str}", sync_to_thread=True)
    def paying(request: Request, sale_id: FromPath[str]) -> Template | Redirect:
        """Where the visitor waits; refreshes itself until the sale reaches an outcome."""
        record = kiosk.journal.get(sale_id)
        if record is None:
            return Redirect("/")
        job = kiosk.jobs.get(sale_id)
        running = job is not None and not job.done
        state, here = record.state, f"/paying/{sale_id}"
        if state == SaleState.PRINTED:
            return Redirect(f"/done/{sale_id}")

        def wait(key: str, status: int = 200, **extra: Any) -> Template:
            return page(
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
        if state == SaleState.PAID:
            return wait("processing") if running else wait("pending", 503)
        if state == SaleState.CONFIRMED:
            return wait("processing") if running else wait("printer_wait", 503)
        if state == SaleState.VOIDED:
            return page(request, "message.html", 409, key="sold_out", idle=True)
        if state == SaleState.VOID_FAILED:
            return page(request, "message.html", 409, key="void_failed", idle=False)
        cancelled = (record.error or "").startswith("PaymentCancelled")
        key = "payment_cancelled" if cancelled else "payment_failed"
        return page(request, "message.html", 402, key=key, idle=True)

    @post("/paying/{sale_id:str}/cancel", sync_to_thread=True)
    def cancel_sale(request: Request, sale_id: FromPath[str]) -> Redirect:
        job = kiosk.jobs.get(sale_id)
        if job is not None and not job.done:
            kiosk.cancel_payment()  # the terminal decides: an approval already made stands
        return Redirect(f"/paying/{sale_id}")

    @get("/done/{sale_id:str}", sync_to_thread=True)
    def done(request: Request, sale_id: FromPath[str]) -> Template | Redirect:
        record = kiosk.journal.get(sale_id)
        if record is None or record.confirmation is None:
            return Redirect("/")
        return page(
            request,
            "done.html",
            sale_id=sale_id,
            record=record,
            order=kiosk.confirmation(sale_id).order,
            receipt_done=False,
            idle=True,
        )

    @post("/receipt/{sale_id:str}", sync_to_thread=True)
    def receipt(request: Request, sale_id: FromPath[str]) -> Template | Redirect:
        try:
            kiosk.print_receipt(sale_id)
        except KioskError as exc:
            log.warning("receipt for %s: %s", sale_id, exc)
        record = kiosk.journal.get(sale_id)
        if record is None or record.confirmation is None:
            return Redirect("/")
        return page(
            request,
            "done.html",
            sale_id=sale_id,
            record=record,
            order=kiosk.confirmation(sale_id).order,
            receipt_done=bool(record.receipt_printed_at),
            idle=True,
        )

    @post("/staff", sync_to_thread=True)
    def call_staff(request: Request) -> Template:
        log.warning("visitor called staff")
        kiosk.call_staff("visitor", request.headers.get("referer", ""))
        return page(request, "message.html", key="staff_called", idle=True)

    @post("/cancel-payment", sync_to_thread=True)
    def cancel_payment(request: Request) -> Redirect:
        kiosk.cancel_payment()
        return Redirect("/")

    return Litestar(
        route_handlers=[
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
            *staff_routes(kiosk, config, page),
        ],
        template_config=TemplateConfig(
            directory=Path(__file__).parent / "templates", engine=JinjaTemplateEngine
        ),
    )
