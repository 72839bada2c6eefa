"""Availability marker plugin (F15): 〇 plenty / △ few left / × sold out.

Options (per facility): ``few_left_ratio`` (default 0.2: △ at or below 20% of capacity)
and ``few_left_count`` (default 10: △ at or below this many places), whichever is larger.
"""

from __future__ import annotations

from core_service.plugin_api import AvailabilityMarker, FacilityContext, OptionField, hookimpl

PLUGIN_NAME = "availability"

PLENTY = AvailabilityMarker(symbol="〇", label_ja="空きあり", label_en="Available", level="plenty")
FEW = AvailabilityMarker(symbol="△", label_ja="残りわずか", label_en="Few left", level="few")
SOLD_OUT = AvailabilityMarker(
    symbol="×", label_ja="売り切れ", label_en="Sold out", level="sold_out"
)


@hookimpl
def plugin_options() -> list[OptionField]:
    return [
        OptionField(
            "few_left_ratio",
            "number",
            "残りわずかとする割合 (定員に対して、0〜1)",
            "Few left at or below this share of capacity (0-1)",
            default=0.2,
            minimum=0,
            maximum=1,
        ),
        OptionField(
            "few_left_count",
            "int",
            "残りわずかとする残数",
            "Few left at or below this many places",
            default=10,
            minimum=0,
        ),
    ]


@hookimpl
def availability_marker(
    facility: FacilityContext, remaining: int | None, capacity: int | None
) -> AvailabilityMarker | None:
    if remaining is None or capacity is None:
        return PLENTY
    if remaining <= 0:
        return SOLD_OUT
    options = facility.options(PLUGIN_NAME)
    ratio = float(options.get("few_left_ratio", 0.2))
    count = int(options.get("few_left_count", 10))
    threshold = max(capacity * ratio, count)
    return FEW if remaining <= threshold else PLENTY
