"""The webhook shapes this domain's routes take and return.

They are defined once, in :mod:`kippu_contract.v1.staff`, because the workbench decodes
the very same structs; this module names the ones this domain serves, so a reader finds
them beside the controllers. The body of a webhook itself is
:class:`kippu_contract.webhooks.WebhookEvent`.
"""

from __future__ import annotations

from kippu_contract.v1.staff import (
    WebhookDeliveryOut,
    WebhookDeliveryPageOut,
    WebhookEndpointChangeIn,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookSecretOut,
)

__all__ = [
    "WebhookDeliveryOut",
    "WebhookDeliveryPageOut",
    "WebhookEndpointChangeIn",
    "WebhookEndpointIn",
    "WebhookEndpointOut",
    "WebhookSecretOut",
]
