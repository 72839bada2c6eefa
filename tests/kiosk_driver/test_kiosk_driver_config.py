"""Kiosk configuration, printer specs and the core client's error mapping."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from escpos import printer as escpos_printer

from kiosk_driver.config import KioskConfig, open_printer
from kiosk_driver.core_client import CoreClient
from kiosk_driver.errors import (
    ConfigError,
    CoreUnavailable,
    EnrolmentRejected,
    InvalidRequest,
    OrderConflict,
    Unauthorized,
)
from kiosk_driver.profiles import resolve_profile
from kiosk_driver.runtime import build_kiosk
from kiosk_driver.terminal import SimulatedTerminal, open_terminal
from tests.support.kiosk import TOKEN, FakeCore

PROFILE = resolve_profile("epson-tm-t88-ja")


def test_config_reads_kippu_kiosk_environment(tmp_path: Path) -> None:
    config = KioskConfig.from_env(
        {
            "KIPPU_KIOSK_CORE_URL": "https://core.example/",
            "KIPPU_KIOSK_PRINTER": "network:10.0.0.5:9100",
            "KIPPU_KIOSK_PROFILE": "TM-T88V",
            "KIPPU_KIOSK_PAPER_WIDTH": "58",
            "KIPPU_KIOSK_KANJI": "1",
            "KIPPU_KIOSK_LOCALE": "en",
            "KIPPU_KIOSK_PORT": "9000",
            "KIPPU_KIOSK_JOURNAL": str(tmp_path / "j.sqlite3"),
        }
    )
    assert config.core_url == "https://core.example"
    assert config.port == 9000 and config.locale == "en"
    profile = config.printer_profile()
    assert profile.kanji and profile.native_qr and profile.paper_mm == 58
    assert profile.columns == 32


def test_unknown_profile_fails_at_start() -> None:
    with pytest.raises(ConfigError):
        KioskConfig.from_env({"KIPPU_KIOSK_PROFILE": "no-such-printer"})


def test_escpos_profile_without_qr_uses_raster_and_no_kanji() -> None:
    profile = resolve_profile("POS-5890")
    assert not profile.native_qr and not profile.kanji and profile.paper_mm == 58


@pytest.mark.parametrize(
    ("spec", "cls", "attrs"),
    [
        ("memory", escpos_printer.Dummy, {}),
        ("file:/tmp/kippu-printer.bin", escpos_printer.File, {"devfile": "/tmp/kippu-printer.bin"}),
        ("network:10.0.0.5:9101", escpos_printer.Network, {"host": "10.0.0.5", "port": 9101}),
        ("network:printer.local", escpos_printer.Network, {"host": "printer.local", "port": 9100}),
        ("usb:0x04b8:0x0202", escpos_printer.Usb, {"idVendor": 0x04B8, "idProduct": 0x0202}),
        (
            "serial:/dev/ttyUSB0:19200",
            escpos_printer.Serial,
            {"devfile": "/dev/ttyUSB0", "baudrate": 19200},
        ),
    ],
)
def test_printer_spec_builds_the_escpos_printer(spec: str, cls: type, attrs: dict) -> None:
    if not cls.is_usable():  # pyusb / pyserial are optional extras of python-escpos
        with pytest.raises(ConfigError, match=r"python-escpos\["):
            open_printer(spec, PROFILE)
        return
    printer = open_printer(spec, PROFILE)
    assert isinstance(printer, cls)
    for name, value in attrs.items():
        assert getattr(printer, name) == value


@pytest.mark.parametrize("spec", ["", "lpt1", "usb:zz:01", "network:", "file:"])
def test_bad_printer_spec_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError):
        open_printer(spec, PROFILE)


def test_file_printer_writes_the_bytes(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    printer = open_printer(f"file:{target}", PROFILE)
    printer.textln("hello")
    printer.close()
    assert b"hello" in target.read_bytes()


def test_terminal_spec_selects_simulated_outcome() -> None:
    terminal = open_terminal("simulated:decline")
    assert isinstance(terminal, SimulatedTerminal) and terminal.outcome == "decline"
    with pytest.raises(ConfigError):
        open_terminal("square")


def _client(core: FakeCore, token: str | None = TOKEN) -> CoreClient:
    return CoreClient("http://core.test", token, transport=core.transport())


def test_client_maps_errors_onto_the_tree() -> None:
    assert _client(FakeCore()).catalog().facility.name_en == "Forest Adventure Park"
    with pytest.raises(Unauthorized):
        _client(FakeCore(), "wrong").catalog()
    with pytest.raises(CoreUnavailable):
        _client(FakeCore(down=True)).catalog()

    def answer(status: int) -> CoreClient:
        transport = httpx.MockTransport(lambda r: httpx.Response(status, json={"detail": "x"}))
        return CoreClient("http://core.test", TOKEN, transport=transport)

    with pytest.raises(CoreUnavailable):
        answer(502).catalog()
    with pytest.raises(OrderConflict):
        answer(409).catalog()
    with pytest.raises(InvalidRequest):
        answer(422).catalog()


def test_enrolment_stores_the_device_token(tmp_path: Path) -> None:
    core = FakeCore()
    config = KioskConfig(
        core_url="http://core.test",
        token_file=tmp_path / "t" / "token",
        enrol_code="ENROL-1",
        journal_path=tmp_path / "j.sqlite3",
    )
    kiosk = build_kiosk(config, transport=core.transport())
    assert config.read_token() == TOKEN
    assert (config.token_file.stat().st_mode & 0o777) == 0o600
    assert kiosk.core.catalog().products
    assert "Authorization" not in core.calls[0].headers


def test_rejected_enrolment_code() -> None:
    with pytest.raises(EnrolmentRejected):
        _client(FakeCore(), None).enrol("WRONG")
