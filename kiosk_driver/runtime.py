"""Wiring: build a :class:`~kiosk_driver.sale.Kiosk` from config, run it, or script a sale.

The CLI calls :func:`run_kiosk` (``kippu kiosk``) and the demo calls :func:`simulate_sale`.
Every boundary can be passed in, so tests and the contract test reuse the same wiring
with an ``httpx.MockTransport`` / ``ASGITransport``, a scripted terminal and a Dummy printer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx
from escpos.escpos import Escpos

from kiosk_driver.catalog import sold_out
from kiosk_driver.config import KioskConfig, open_printer
from kiosk_driver.core_client import CoreClient
from kiosk_driver.errors import KioskError, Unauthorized
from kiosk_driver.health import tick
from kiosk_driver.journal import Journal
from kiosk_driver.sale import Kiosk, ResumeReport, SaleResult
from kiosk_driver.terminal import PaymentTerminal, open_terminal
from kippu_contract.v1.kiosk import OrderLineIn

log = logging.getLogger(__name__)


def build_kiosk(
    config: KioskConfig,
    *,
    transport: httpx.BaseTransport | None = None,
    terminal: PaymentTerminal | None = None,
    printer: Escpos | None = None,
    journal: Journal | None = None,
) -> Kiosk:
    """Build a kiosk; enrols with ``config.enrol_code`` first if no token is stored yet."""
    profile = config.printer_profile()
    core = CoreClient(
        config.core_url, config.read_token(), transport=transport, timeout=config.http_timeout
    )
    if core.token is None:
        if not config.enrol_code:
            raise Unauthorized(401, "no device token; set KIPPU_KIOSK_ENROL_CODE to enrol")
        enrolment = core.enrol(config.enrol_code)
        config.write_token(enrolment.token)
        device = enrolment.device
        log.info("enrolled as device %s (%s)", device.get("id"), device.get("name"))
    return Kiosk(
        core,
        terminal or open_terminal(config.terminal, config.extra),
        printer or open_printer(config.printer, profile),
        profile,
        journal or Journal(config.journal_path),
    )


def background_loop(
    kiosk: Kiosk, heartbeat_seconds: float, stop: threading.Event, tick_seconds: float = 2.0
) -> None:
    """While the kiosk runs: finish interrupted sales promptly (confirm, print) every
    ``tick_seconds``, and report health every ``heartbeat_seconds``."""
    waited = 0.0
    while not stop.wait(tick_seconds):
        try:
            tick(kiosk)
        except Exception:  # the loop must outlive any one bad pass
            log.exception("background tick failed")
        waited += tick_seconds
        if waited >= heartbeat_seconds:
            waited = 0.0
            kiosk.heartbeat()


def run_kiosk(config: KioskConfig | None = None) -> None:
    """Serve the touch UI; resume interrupted sales first; send heartbeats in the background."""
    import uvicorn

    from kiosk_driver.app import create_app

    config = config or KioskConfig.from_env()
    kiosk = build_kiosk(config)
    try:
        report = kiosk.resume()
        log.info("resume: %s", report)
    except KioskError as exc:  # an offline core must not stop the UI from starting
        log.warning("resume incomplete: %s", exc)
    stop = threading.Event()
    beat = threading.Thread(
        target=background_loop,
        args=(kiosk, config.heartbeat_seconds, stop, config.tick_seconds),
        daemon=True,
    )
    kiosk.heartbeat()
    beat.start()
    try:
        uvicorn.run(create_app(kiosk, config), host=config.host, port=config.port)
    finally:
        stop.set()
        kiosk.journal.close()


@dataclass
class SimulationResult:
    """A scripted sale: the sale, and the bytes the (memory) printer received."""

    sale: SaleResult
    output: bytes
    resume: ResumeReport | None = None


def simulate_sale(
    config: KioskConfig,
    lines: Sequence[tuple[int, int] | OrderLineIn] | None = None,
    *,
    method: str = "card",
    answers: Mapping[str, bool] | None = None,
    locale: str = "ja",
    receipt: bool = False,
    transport: httpx.BaseTransport | None = None,
    terminal: PaymentTerminal | None = None,
    kiosk: Kiosk | None = None,
) -> SimulationResult:
    """Sell ``lines`` ((price_category_id, quantity) pairs) without the UI.

    Without lines, one ticket of the first on-sale price category is sold. Without answers,
    the simulated visitor ticks every required consent box. The printer is whatever the
    config names; with ``memory`` the returned ``output`` holds the ESC/POS bytes.
    """
    kiosk = kiosk or build_kiosk(config, transport=transport, terminal=terminal)
    resume = kiosk.resume()
    catalog = kiosk.catalog(refresh=True)
    if lines is None:
        product = next(p for p in catalog.products if not sold_out(p) and p.price_categories)
        lines = [(product.price_categories[0].id, 1)]
    cart = [line if isinstance(line, OrderLineIn) else OrderLineIn(*line) for line in lines]
    if answers is None:
        answers = {f.name: True for f in catalog.checkout_fields if f.required}
    output = getattr(kiosk.printer, "output", b"")
    before = len(output) if isinstance(output, bytes) else 0
    sale = kiosk.sell(cart, method, answers, locale)
    if receipt:
        kiosk.print_receipt(sale.sale_id)
    output = getattr(kiosk.printer, "output", b"")
    return SimulationResult(sale, output[before:] if isinstance(output, bytes) else b"", resume)
