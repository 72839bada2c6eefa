"""The order, ticket and order lookup shapes this domain's routes take and return.

They are defined once, in :mod:`kippu_contract.v1.common`, :mod:`kippu_contract.v1.kiosk`, :mod:`kippu_contract.v1.staff`, because the clients (kiosk driver,
workbench, scanners) decode the very same structs; this module names the ones this domain
serves, so a reader finds them beside the controllers.
"""

from __future__ import annotations

from kippu_contract.v1.kiosk import OrderLineOut, OrderOut, TaxLineOut, TicketOut
from kippu_contract.v1.staff import LookupLineOut, LookupOrderOut, LookupPaymentOut, LookupTicketOut

__all__ = [
    "LookupLineOut",
    "LookupOrderOut",
    "LookupPaymentOut",
    "LookupTicketOut",
    "OrderLineOut",
    "OrderOut",
    "TaxLineOut",
    "TicketOut",
]
