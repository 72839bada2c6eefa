"""The kiosk and device shapes this domain's routes take and return.

They are defined once, in :mod:`kippu_contract.v1.kiosk` and :mod:`kippu_contract.v1.staff`, because the clients (kiosk driver,
workbench, scanners) decode the very same structs; this module names the ones this domain
serves, so a reader finds them beside the controllers.
"""

from __future__ import annotations

from kippu_contract.v1.kiosk import (
    CatalogOut,
    CheckoutFieldOut,
    EnrolIn,
    EnrolOut,
    KioskHeartbeatIn,
    KioskOrderIn,
    KioskOrderOut,
    MarkerOut,
    OrderLineIn,
    PriceCategoryOut,
    ProductOut,
    SlotOut,
    StaffCallIn,
    StaffCallOut,
    StayChargeOut,
    StayOrderIn,
    VoucherQuoteIn,
    VoucherQuoteOut,
)
from kippu_contract.v1.staff import AllowedProductsIn, DeviceIn, DeviceOut, NewDeviceOut

__all__ = [
    "AllowedProductsIn",
    "CatalogOut",
    "CheckoutFieldOut",
    "DeviceIn",
    "DeviceOut",
    "EnrolIn",
    "EnrolOut",
    "KioskHeartbeatIn",
    "KioskOrderIn",
    "KioskOrderOut",
    "MarkerOut",
    "OrderLineIn",
    "NewDeviceOut",
    "PriceCategoryOut",
    "ProductOut",
    "SlotOut",
    "StaffCallIn",
    "StaffCallOut",
    "StayChargeOut",
    "StayOrderIn",
    "VoucherQuoteIn",
    "VoucherQuoteOut",
]
