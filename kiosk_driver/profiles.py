"""Printer profiles: what a kiosk's printer can do, stated explicitly.

python-escpos profiles describe the hardware command set (native QR, raster images, paper
width in dots). They say nothing about Japanese: whether the printer has the Kanji ROM and
understands ``FS C 1`` / ``FS &`` with Shift-JIS. That is the one fact we must not guess,
because sending Shift-JIS to a printer without the Kanji ROM prints garbage. So a kippu
profile adds it explicitly, and a printer without Kanji prints the English text only.

``KIPPU_KIOSK_PROFILE`` takes either a kippu profile name from :data:`PROFILES` or any
python-escpos profile name (then Kanji is off unless ``KIPPU_KIOSK_KANJI=1``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from escpos.capabilities import get_profile

from kiosk_driver.errors import ConfigError


@dataclass(frozen=True)
class PrinterProfile:
    """What the printing code may assume about the printer."""

    name: str
    escpos_profile: str  # passed to python-escpos for its command set
    kanji: bool  # has a Japanese Kanji ROM: Shift-JIS text via FS C 1 / FS &
    native_qr: bool  # understands GS ( k; otherwise QR codes are sent as raster images
    paper_mm: int = 80  # 58 or 80
    dots: int = 512  # printable width in dots, for raster QR sizing

    @property
    def columns(self) -> int:
        """Half-width columns per line in font A (a Kanji takes two)."""
        return 32 if self.paper_mm == 58 else 48


# Japanese-market models carry the Kanji ROM; the same hardware sold elsewhere does not.
PROFILES: dict[str, PrinterProfile] = {
    "epson-tm-t88-ja": PrinterProfile("epson-tm-t88-ja", "TM-T88V", True, True, 80, 512),
    "epson-tm-t20-ja": PrinterProfile("epson-tm-t20-ja", "TM-T20II", True, True, 80, 576),
    "epson-tm-m30-ja": PrinterProfile("epson-tm-m30-ja", "TM-T88V", True, True, 80, 512),
    "generic-80": PrinterProfile("generic-80", "default", False, True, 80, 512),
    # Cheap 58 mm printers often lack GS ( k, so they get the raster fallback.
    "generic-58": PrinterProfile("generic-58", "POS-5890", False, False, 58, 384),
}


def resolve_profile(
    name: str,
    *,
    paper_mm: int | None = None,
    kanji: bool | None = None,
    native_qr: bool | None = None,
) -> PrinterProfile:
    """Find a kippu profile, or derive one from a python-escpos profile name.

    Explicit ``paper_mm``/``kanji``/``native_qr`` override what the profile says, so an
    installer can correct one fact without defining a new profile.
    """
    profile = PROFILES.get(name)
    if profile is None:
        try:
            escpos_profile = get_profile(name)
        except Exception as exc:  # python-escpos raises a bare NotSupported here
            known = ", ".join(sorted(PROFILES))
            raise ConfigError(f"unknown printer profile {name!r} (kippu: {known})") from exc
        data = escpos_profile.profile_data
        pixels = data.get("media", {}).get("width", {}).get("pixels")
        profile = PrinterProfile(
            name=name,
            escpos_profile=name,
            kanji=False,
            native_qr=bool(data.get("features", {}).get("qrCode")),
            paper_mm=58 if isinstance(pixels, int) and pixels <= 432 else 80,
            dots=pixels if isinstance(pixels, int) else 512,
        )
    changes: dict[str, Any] = {}
    if paper_mm is not None:
        if paper_mm not in (58, 80):
            raise ConfigError(f"paper width must be 58 or 80, not {paper_mm}")
        changes["paper_mm"] = paper_mm
        if paper_mm == 58:
            changes["dots"] = min(profile.dots, 384)
    if kanji is not None:
        changes["kanji"] = kanji
    if native_qr is not None:
        changes["native_qr"] = native_qr
    return dataclasses.replace(profile, **changes) if changes else profile
