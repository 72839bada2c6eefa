"""What a kippu plugin imports: the hook marker and the value types hooks exchange.

A plugin is a module or object with functions decorated ``@hookimpl`` whose names match
the specifications in :mod:`core_service.plugins.hookspecs`, declared in the ``kippu``
entry-point group of its distribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pluggy

PROJECT_NAME = "kippu"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@dataclass(frozen=True, slots=True)
class FacilityContext:
    """What hooks learn about the facility they are called for."""

    id: int
    slug: str
    name_ja: str
    name_en: str
    timezone: str
    #: Options of every enabled plugin, by plugin name.
    plugin_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def options(self, plugin_name: str) -> dict[str, Any]:
        return self.plugin_options.get(plugin_name, {})


@dataclass(frozen=True, slots=True)
class CheckoutField:
    """An extra input on the web and kiosk checkout, contributed by a plugin.

    ``kind`` is "checkbox" (answer: bool) or "text" (answer: str). A field with
    ``is_consent`` is recorded, with its full text, as a consent of the order.
    """

    name: str
    kind: str
    label_ja: str
    label_en: str
    text_ja: str = ""
    text_en: str = ""
    required: bool = False
    is_consent: bool = False
    plugin: str = ""

    def label(self, locale: str) -> str:
        return self.label_ja if locale == "ja" else self.label_en

    def text(self, locale: str) -> str:
        return self.text_ja if locale == "ja" else self.text_en


@dataclass(frozen=True, slots=True)
class FieldError:
    """A problem with one checkout answer, shown next to that field."""

    field: str
    message_ja: str
    message_en: str

    def message(self, locale: str) -> str:
        return self.message_ja if locale == "ja" else self.message_en


@dataclass(frozen=True, slots=True)
class AvailabilityMarker:
    """〇 / △ / × style marker for how many places are left."""

    symbol: str
    label_ja: str
    label_en: str
    level: str  # "plenty" | "few" | "sold_out"

    def label(self, locale: str) -> str:
        return self.label_ja if locale == "ja" else self.label_en


@dataclass(frozen=True, slots=True)
class PaidOrder:
    """Summary of an order that just became paid, given to ``order_paid``."""

    id: int
    code: str
    channel: str
    total: int
    ticket_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Redemption:
    """A scan that admitted a ticket, given to ``ticket_redeemed``."""

    ticket_id: int
    order_id: int
    product_id: int
    direction: str
    uses_left: int
    device_id: int | None
