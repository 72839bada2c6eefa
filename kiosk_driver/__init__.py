"""kiosk_driver: the service that runs on each kiosk PC (券売機).

It serves the local touch UI, talks to the core over HTTP with a device token, takes
payment on the terminal, prints tickets and receipts with python-escpos, and keeps a local
journal so an interrupted sale is finished, never lost or printed twice. See docs/kiosk.md.

Entry points for the CLI: :func:`run_kiosk` (``kippu kiosk``) and :func:`simulate_sale`
(the demo's scripted sale).
"""

from kiosk_driver.config import KioskConfig
from kiosk_driver.runtime import SimulationResult, build_kiosk, run_kiosk, simulate_sale
from kiosk_driver.sale import Kiosk, SaleResult

__all__ = [
    "Kiosk",
    "KioskConfig",
    "SaleResult",
    "SimulationResult",
    "build_kiosk",
    "run_kiosk",
    "simulate_sale",
]
