"""The public availability feed (``/api/v1/public/...``) a facility's own web site reads."""

from __future__ import annotations

import datetime as dt

import msgspec


class MarkerFeed(msgspec.Struct):
    symbol: str
    level: str
    label_ja: str
    label_en: str


class SlotFeed(msgspec.Struct):
    slot: str
    marker: MarkerFeed | None


class DayFeed(msgspec.Struct):
    date: dt.date
    closed: bool
    marker: MarkerFeed | None
    slots: list[SlotFeed]


class ProductFeed(msgspec.Struct):
    code: str
    kind: str
    name_ja: str
    name_en: str
    url: str
    days: list[DayFeed]


class AvailabilityFeed(msgspec.Struct):
    facility: str
    name_ja: str
    name_en: str
    first_day: dt.date
    products: list[ProductFeed]
