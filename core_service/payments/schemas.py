"""The payment credential shapes this domain's staff routes take and return.

They are defined once, in :mod:`kippu_contract.v1.staff`, because the workbench decodes
the very same structs; this module names the ones this domain serves.
"""

from __future__ import annotations

from kippu_contract.v1.staff import (
    CredentialFieldOut,
    PaymentCredentialsOut,
    ProviderCredentialsOut,
)

__all__ = ["CredentialFieldOut", "PaymentCredentialsOut", "ProviderCredentialsOut"]
