"""The gate shapes this domain's routes take and return.

They are defined once, in :mod:`kippu_contract.v1.gate`, because the clients (kiosk driver,
workbench, scanners) decode the very same structs; this module names the ones this domain
serves, so a reader finds them beside the controllers.
"""

from __future__ import annotations

from kippu_contract.v1.gate import PublicKeyOut, ScanIn, ScanOut, ScanTicketOut

__all__ = ["PublicKeyOut", "ScanIn", "ScanOut", "ScanTicketOut"]
