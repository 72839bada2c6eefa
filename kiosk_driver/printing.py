"""Render ticket and receipt layouts onto an ESC/POS printer (python-escpos).

Japanese text: on a profile with ``kanji=True`` every line is sent as Shift-JIS (cp932)
bytes through the printer's ``_raw`` after selecting the Kanji code system and entering
Kanji mode (Epson ESC/POS, Japanese models)::

    ESC R 8   1B 52 08   international character set Japan (0x5C prints as ¥)
    FS C 1    1C 43 01   Kanji code system: Shift-JIS
    FS &      1C 26      enter Kanji mode
    FS .      1C 2E      leave Kanji mode (at the end of the job)

Such a printer prints each line in the visitor's language first and the other language
second. A printer without the Kanji ROM prints English only, through python-escpos'
normal text path. QR codes use the printer's native command (``GS ( k``) when the profile
has it, else a segno-rendered raster image (``GS v 0``).
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Sequence

import segno
from escpos.constants import QR_ECLEVEL_M
from escpos.escpos import Escpos
from PIL import Image

from kiosk_driver.errors import PrinterFault
from kiosk_driver.layout import (
    QR,
    Block,
    Cut,
    Feed,
    Row,
    Rule,
    Tear,
    Text,
    receipt_blocks,
    ticket_blocks,
    tickets_blocks,
)
from kiosk_driver.profiles import PrinterProfile
from kippu_contract.v1.kiosk import KioskOrderOut, TicketOut

ESC_R_JAPAN = b"\x1bR\x08"
FS_C_SHIFT_JIS = b"\x1cC\x01"
FS_KANJI_ON = b"\x1c&"
FS_KANJI_OFF = b"\x1c."


def encode_sjis(text: str) -> bytes:
    """Encode for a Kanji printer; characters it cannot print become '?'."""
    out = bytearray()
    for char in text:
        if char == "¥":  # with ESC R 8, 0x5C prints as the yen sign
            out += b"\\"
            continue
        for codec in ("cp932", "shift_jis"):
            try:
                out += char.encode(codec)
                break
            except UnicodeEncodeError:
                continue
        else:
            out += b"?"
    return bytes(out)


def qr_image(data: str, max_dots: int) -> Image.Image:
    """The QR code as a 1-bit image no wider than ``max_dots`` (for the raster fallback)."""
    qr = segno.make(data, error="m", micro=False)
    modules = qr.symbol_size(scale=1, border=4)[0]
    scale = max(1, min(8, (max_dots * 3 // 4) // modules))
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=scale, border=4)
    buffer.seek(0)
    return Image.open(buffer).convert("1")


class Renderer:
    """Turns layout blocks into printer commands for one printer profile."""

    def __init__(self, printer: Escpos, profile: PrinterProfile, locale: str = "ja") -> None:
        self.printer = printer
        self.profile = profile
        if profile.kanji:
            self.languages: tuple[str, ...] = ("en", "ja") if locale == "en" else ("ja", "en")
        else:
            self.languages = ("en",)

    # -- text helpers -------------------------------------------------------------------

    def _width(self, text: str) -> int:
        if self.profile.kanji:
            return len(encode_sjis(text))  # Shift-JIS: one byte per column
        return sum(2 if unicodedata.east_asian_width(c) in "FW" else 1 for c in text)

    def _ascii(self, text: str) -> str:
        # English-only printers: never send characters their code pages lack.
        return text.replace("¥", "JPY ").replace("×", "x").encode("ascii", "replace").decode()

    def _emit(self, line: str) -> None:
        if self.profile.kanji:
            self.printer._raw(encode_sjis(line) + b"\n")
        else:
            self.printer.textln(self._ascii(line))

    def _prepare(self, text: str) -> str:
        return text if self.profile.kanji else self._ascii(text)

    def _wrap(self, text: str, columns: int) -> list[str]:
        # Latin words stay whole; Japanese may break between any two characters.
        lines, current = [], ""
        for token in re.findall(r"\s+|[!-~]+|.", text):
            if self._width(current + token) <= columns:
                current += token
                continue
            if current.strip():
                lines.append(current.rstrip())
            current = token.lstrip()
            while self._width(current) > columns:  # a single over-long word
                cut = columns
                while self._width(current[:cut]) > columns:
                    cut -= 1
                lines.append(current[:cut])
                current = current[cut:]
        return [*lines, current.rstrip()]

    # -- blocks -------------------------------------------------------------------------

    def _text(self, block: Text) -> None:
        self.printer.set(
            align=block.align,
            bold=block.bold,
            double_width=block.size == "double",
            double_height=block.size in ("double", "tall"),
            normal_textsize=block.size == "normal",
        )
        columns = self.profile.columns // (2 if block.size == "double" else 1)
        seen: set[str] = set()
        for language in self.languages:
            text = self._prepare(block.ja if language == "ja" else block.en)
            if not text or text in seen:  # names identical in both languages print once
                continue
            seen.add(text)
            for line in self._wrap(text, columns):
                self._emit(line)
        self.printer.set(align="left", bold=False, normal_textsize=True)

    def _row(self, block: Row) -> None:
        self.printer.set(align="left", bold=block.bold)
        seen: set[str] = set()
        for language in self.languages:
            label = block.label_ja if language == "ja" else block.label_en
            value = block.value_en if language == "en" and block.value_en else block.value_ja
            line = self._row_line(self._prepare(label), self._prepare(value))
            if line not in seen:
                seen.add(line)
                self._emit(line)
        self.printer.set(bold=False)

    def _row_line(self, label: str, value: str) -> str:
        gap = self.profile.columns - self._width(label) - self._width(value)
        if gap < 1:  # too long for one line: the value goes right-aligned below
            return f"{label}\n{' ' * max(0, self.profile.columns - self._width(value))}{value}"
        return label + " " * gap + value

    def _qr(self, block: QR) -> None:
        self.printer.set(align="center")
        if self.profile.native_qr:
            size = 4 if self.profile.paper_mm == 58 else 6
            self.printer.qr(block.data, ec=QR_ECLEVEL_M, size=size, native=True)
            self.printer.ln()
        else:
            image = qr_image(block.data, self.profile.dots)
            self.printer.image(image, center=False)
        self.printer.set(align="left")

    def render(self, blocks: Sequence[Block]) -> None:
        """Print the blocks as one job; PrinterFault if the printer fails mid-way."""
        try:
            self.printer.hw("INIT")
            if self.profile.kanji:
                self.printer._raw(ESC_R_JAPAN + FS_C_SHIFT_JIS + FS_KANJI_ON)
            for block in blocks:
                if isinstance(block, Text):
                    self._text(block)
                elif isinstance(block, Row):
                    self._row(block)
                elif isinstance(block, Rule):
                    self._emit("-" * self.profile.columns)
                elif isinstance(block, QR):
                    self._qr(block)
                elif isinstance(block, Feed):
                    self.printer.ln(block.lines)
                elif isinstance(block, Cut):
                    self.printer.cut()
                elif isinstance(block, Tear):
                    # Not a cut: the coupons of one book leave the printer as one strip.
                    self.printer.ln()
                    self._emit("- " * (self.profile.columns // 2))
                    self.printer.ln()
            if self.profile.kanji:
                self.printer._raw(FS_KANJI_OFF)
            flush = getattr(self.printer, "flush", None)
            if callable(flush):
                flush()
        except PrinterFault:
            raise
        except Exception as exc:  # escpos and OS errors vary by connection type
            raise PrinterFault(f"printing failed: {exc!r}") from exc


def print_tickets(
    printer: Escpos, profile: PrinterProfile, confirmation: KioskOrderOut, locale: str = "ja"
) -> None:
    """Print every ticket of a confirmed sale."""
    Renderer(printer, profile, locale).render(tickets_blocks(confirmation))


def print_receipt(
    printer: Escpos,
    profile: PrinterProfile,
    confirmation: KioskOrderOut,
    locale: str = "ja",
    issued_at: str | None = None,
) -> None:
    """Print the receipt (領収書) of a confirmed sale."""
    Renderer(printer, profile, locale).render(receipt_blocks(confirmation, issued_at=issued_at))


def print_ticket(
    printer: Escpos,
    profile: PrinterProfile,
    ticket: TicketOut,
    confirmation: KioskOrderOut,
    locale: str = "ja",
    *,
    reprint: bool = False,
) -> None:
    """Print one ticket (one cut piece of paper), with the reprint mark if asked."""
    Renderer(printer, profile, locale).render(ticket_blocks(ticket, confirmation, reprint=reprint))


# DLE EOT 2 (offline cause): bit 2 cover open, bit 5 stopped for paper end, bit 6 error.
RT_STATUS_OFFLINE_CAUSE = b"\x10\x04\x02"


def printer_health(printer: Escpos) -> tuple[str, str]:
    """(printer, paper) states for the heartbeat and the sale flow.

    printer: ok / offline / paper_out / cover_open / unknown; paper: ok / near_end / out /
    unknown. Printers that cannot answer (File, most network set-ups without a back
    channel) report "unknown" rather than a guess; a Dummy is always fine.
    """
    if type(printer)._read is Escpos._read:
        # No back channel (Dummy, File): asking would only write DLE EOT onto the paper.
        return ("ok", "ok") if printer.__class__.__name__ == "Dummy" else ("unknown", "unknown")
    try:
        online = printer.is_online()
        paper = printer.paper_status()  # 2 ok, 1 near end, 0 out
    except NotImplementedError:
        return "unknown", "unknown"
    except Exception:
        return "offline", "unknown"
    paper_state = {2: "ok", 1: "near_end", 0: "out"}.get(paper, "unknown")
    if paper_state == "out":
        return "paper_out", paper_state
    if not online:
        try:
            cause = printer.query_status(RT_STATUS_OFFLINE_CAUSE)
        except Exception:
            cause = b""
        if cause and cause[0] & 0x04:
            return "cover_open", paper_state
        if cause and cause[0] & 0x20:
            return "paper_out", paper_state
        return "offline", paper_state
    return "ok", paper_state


def printer_fault(printer: Escpos) -> str | None:
    """Why the printer cannot print now (paper_out, cover_open, offline), else None."""
    state, _ = printer_health(printer)
    return state if state in ("paper_out", "cover_open", "offline") else None
