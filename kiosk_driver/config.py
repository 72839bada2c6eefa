"""Kiosk configuration: one typed object read from ``KIPPU_KIOSK_*`` environment variables.

The printer is named by a spec string so that swapping hardware is a config change:

==============================  ============================================
``memory``                      escpos ``Dummy``: keeps the bytes (demo, tests)
``file:/dev/usb/lp0``           escpos ``File``: a device node or plain file
``network:192.168.1.50:9100``   escpos ``Network``: raw TCP (port defaults to 9100)
``usb:0x04b8:0x0202``           escpos ``Usb``: vendor and product id (needs pyusb)
``serial:/dev/ttyUSB0:9600``    escpos ``Serial``: device and baud rate
==============================  ============================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from escpos.escpos import Escpos

from kiosk_driver.errors import ConfigError
from kiosk_driver.profiles import PrinterProfile, resolve_profile

ENV_PREFIX = "KIPPU_KIOSK_"


def _bool(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(ENV_PREFIX + key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{key} must be an integer, not {raw!r}") from exc


@dataclass(frozen=True)
class KioskConfig:
    """Everything a kiosk needs to start. Field comments name the environment variable."""

    core_url: str = "http://127.0.0.1:8000"  # KIPPU_KIOSK_CORE_URL
    token_file: Path = Path("kiosk-token")  # KIPPU_KIOSK_TOKEN_FILE (device token, mode 600)
    token: str | None = None  # KIPPU_KIOSK_TOKEN: given directly (demo, containers); wins
    enrol_code: str | None = None  # KIPPU_KIOSK_ENROL_CODE: used once if no token file yet
    printer: str = "memory"  # KIPPU_KIOSK_PRINTER: spec string, see module docstring
    profile: str = "epson-tm-t88-ja"  # KIPPU_KIOSK_PROFILE: kippu or python-escpos profile
    paper_mm: int | None = None  # KIPPU_KIOSK_PAPER_WIDTH: 58 or 80 (default: profile's)
    kanji: bool | None = None  # KIPPU_KIOSK_KANJI: override the profile's Kanji ROM flag
    native_qr: bool | None = None  # KIPPU_KIOSK_NATIVE_QR: override GS ( k support
    terminal: str = "simulated"  # KIPPU_KIOSK_TERMINAL: simulated[:approve|decline|...]
    journal_path: Path = Path("kiosk-journal.sqlite3")  # KIPPU_KIOSK_JOURNAL
    locale: str = "ja"  # KIPPU_KIOSK_LOCALE: default UI language, ja or en
    host: str = "127.0.0.1"  # KIPPU_KIOSK_HOST: the touch UI listens locally only
    port: int = 8700  # KIPPU_KIOSK_PORT
    heartbeat_seconds: int = 60  # KIPPU_KIOSK_HEARTBEAT_SECONDS
    idle_seconds: int = 90  # KIPPU_KIOSK_IDLE_SECONDS: back to the start screen
    http_timeout: float = 10.0  # KIPPU_KIOSK_HTTP_TIMEOUT: seconds per core call
    tick_seconds: float = 2.0  # KIPPU_KIOSK_TICK_SECONDS: background recovery interval
    staff_pin: str | None = None  # KIPPU_KIOSK_STAFF_PIN: opens the staff screen (unset: off)
    extra: dict[str, str] = field(default_factory=dict)  # unknown KIPPU_KIOSK_* (adapters)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KioskConfig:
        """Build the config from the environment (or the given mapping)."""
        env = os.environ if env is None else env

        def get(key: str, default: str) -> str:
            return env.get(ENV_PREFIX + key) or default

        paper = env.get(ENV_PREFIX + "PAPER_WIDTH")
        locale = get("LOCALE", "ja")
        if locale not in ("ja", "en"):
            raise ConfigError(f"{ENV_PREFIX}LOCALE must be ja or en, not {locale!r}")
        known = {
            "CORE_URL", "TOKEN", "TOKEN_FILE", "ENROL_CODE", "PRINTER", "PROFILE", "PAPER_WIDTH",
            "KANJI", "NATIVE_QR", "TERMINAL", "JOURNAL", "LOCALE", "HOST", "PORT",
            "HEARTBEAT_SECONDS", "IDLE_SECONDS", "HTTP_TIMEOUT", "TICK_SECONDS", "STAFF_PIN",
        }  # fmt: skip
        extra = {
            k[len(ENV_PREFIX) :]: v
            for k, v in env.items()
            if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX) :] not in known
        }
        try:
            timeout = float(get("HTTP_TIMEOUT", "10"))
            tick_seconds = float(get("TICK_SECONDS", "2"))
        except ValueError as exc:
            raise ConfigError(f"{ENV_PREFIX}HTTP_TIMEOUT/TICK_SECONDS must be numbers") from exc
        config = cls(
            core_url=get("CORE_URL", cls.core_url).rstrip("/"),
            token_file=Path(get("TOKEN_FILE", str(cls.token_file))),
            token=env.get(ENV_PREFIX + "TOKEN") or None,
            enrol_code=env.get(ENV_PREFIX + "ENROL_CODE") or None,
            printer=get("PRINTER", cls.printer),
            profile=get("PROFILE", cls.profile),
            paper_mm=int(paper) if paper else None,
            kanji=_bool(env.get(ENV_PREFIX + "KANJI")),
            native_qr=_bool(env.get(ENV_PREFIX + "NATIVE_QR")),
            terminal=get("TERMINAL", cls.terminal),
            journal_path=Path(get("JOURNAL", str(cls.journal_path))),
            locale=locale,
            host=get("HOST", cls.host),
            port=_int(env, "PORT", cls.port),
            heartbeat_seconds=_int(env, "HEARTBEAT_SECONDS", cls.heartbeat_seconds),
            idle_seconds=_int(env, "IDLE_SECONDS", cls.idle_seconds),
            http_timeout=timeout,
            tick_seconds=tick_seconds,
            staff_pin=env.get(ENV_PREFIX + "STAFF_PIN") or None,
            extra=extra,
        )
        config.printer_profile()  # fail at start, not at the first sale
        return config

    def printer_profile(self) -> PrinterProfile:
        """The resolved printer profile, with this config's overrides applied."""
        return resolve_profile(
            self.profile, paper_mm=self.paper_mm, kanji=self.kanji, native_qr=self.native_qr
        )

    def read_token(self) -> str | None:
        """The device token (given, or stored by enrolment), or None before enrolment."""
        if self.token:
            return self.token
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return token or None

    def write_token(self, token: str) -> None:
        """Store the device token readable by this user only."""
        self.token_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token)


def open_printer(spec: str, profile: PrinterProfile) -> Escpos:
    """Build a python-escpos printer object from a spec string (see module docstring)."""
    from escpos import printer as p  # imported here: Usb/Serial probe optional deps

    kind, _, rest = spec.partition(":")
    kwargs = {"profile": profile.escpos_profile}
    try:
        if kind == "memory":
            return p.Dummy(**kwargs)
        if kind == "file" and rest:
            return p.File(devfile=rest, **kwargs)
        if kind == "network" and rest:
            host, _, port = rest.rpartition(":") if rest.count(":") else (rest, "", "9100")
            return p.Network(host=host, port=int(port or 9100), **kwargs)
        if kind in ("usb", "serial") and not getattr(p, kind.capitalize()).is_usable():
            # Fail at start with the fix, not at the first sale.
            raise ConfigError(f"{kind} printers need python-escpos[{kind}] installed")
        if kind == "usb" and rest:
            vendor, _, product = rest.partition(":")
            return p.Usb(idVendor=int(vendor, 16), idProduct=int(product, 16), **kwargs)
        if kind == "serial" and rest:
            device, _, baud = rest.rpartition(":") if rest.count(":") else (rest, "", "9600")
            return p.Serial(devfile=device, baudrate=int(baud or 9600), **kwargs)
    except ValueError as exc:
        raise ConfigError(f"bad printer spec {spec!r}: {exc}") from exc
    raise ConfigError(
        f"bad printer spec {spec!r}: use memory, file:PATH, network:HOST[:PORT], "
        "usb:VID:PID or serial:DEVICE[:BAUD]"
    )
