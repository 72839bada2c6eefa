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


#: The kinds of plugin option a settings form can show, and the Python type each holds.
OPTION_KINDS = ("text", "int", "number", "bool", "choice", "secret")


@dataclass(frozen=True, slots=True)
class OptionField:
    """One option a plugin reads from ``facility.options(name)``, returned by
    ``plugin_options``: the settings page shows a widget for it and the core checks a
    new value against it before storing it.

    ``kind`` is "text" (str), "int", "number" (int or float), "bool", "choice" (one of
    ``choices``) or "secret" (str, never shown again or written to the audit log).
    ``minimum``/``maximum`` bound "int" and "number".
    """

    name: str
    kind: str
    label_ja: str
    label_en: str
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    def problem(self, value: Any) -> tuple[str, str] | None:
        """Why ``value`` cannot be this option's value, in English and Japanese; None if it can."""
        kind = self.kind
        if kind in ("text", "secret"):
            ok = isinstance(value, str)
        elif kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "choice":
            ok = value in self.choices
        else:
            allowed: tuple[type, ...] = (int,) if kind == "int" else (int, float)
            ok = isinstance(value, allowed) and not isinstance(value, bool)
            if ok and self.minimum is not None and value < self.minimum:
                ok = False
            if ok and self.maximum is not None and value > self.maximum:
                ok = False
        if ok:
            return None
        bounds = ""
        if kind in ("int", "number") and (self.minimum is not None or self.maximum is not None):
            bounds = f" ({self.minimum if self.minimum is not None else ''}–"
            bounds += f"{self.maximum if self.maximum is not None else ''})"
        wanted_en = {
            "text": "text",
            "secret": "text",
            "bool": "on or off",
            "choice": "one of " + ", ".join(self.choices),
            "int": "a whole number" + bounds,
            "number": "a number" + bounds,
        }[kind]
        wanted_ja = {
            "text": "文字列",
            "secret": "文字列",
            "bool": "オン/オフ",
            "choice": "「" + "」「".join(self.choices) + "」のいずれか",
            "int": "整数" + bounds,
            "number": "数値" + bounds,
        }[kind]
        return (
            f"{self.name} ({self.label_en}) must be {wanted_en}.",
            f"{self.label_ja}（{self.name}）は{wanted_ja}で入力してください。",
        )
