"""The voucher API's shapes, defined once in the contract (``kippu_contract.v1.vouchers``)."""

from kippu_contract.v1.vouchers import VoucherChangeIn, VoucherIn, VoucherOut

__all__ = ["VoucherChangeIn", "VoucherIn", "VoucherOut"]
