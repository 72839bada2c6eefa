"""The kiosk's local touch UI (Litestar + Jinja), served on the kiosk PC only.

:func:`create_app` puts the app together: the visitor's pages
(:mod:`kiosk_driver.visitor_ui`: product → quantities → consent → payment method → pay
on the terminal → done; :mod:`kiosk_driver.stay_ui`: scan a stay ticket → pay what the
stay owes) and the staff screen (:mod:`kiosk_driver.staff_ui`: reprints,
refunds owed), with the kiosk, its config, the page renderer and the staff sessions as
the named dependencies their handlers declare. Japanese by default, English by the
switch in the header (a cookie); every page idles back to the start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from litestar import Litestar
from litestar.di import Provide
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from kiosk_driver.config import KioskConfig
from kiosk_driver.runtime import run_kiosk as run_kiosk  # the CLI imports it from here
from kiosk_driver.runtime import simulate_sale as simulate_sale
from kiosk_driver.sale import Kiosk
from kiosk_driver.screens import Screens
from kiosk_driver.staff_ui import STAFF_ROUTES, StaffSessions
from kiosk_driver.stay_ui import STAY_ROUTES
from kiosk_driver.visitor_ui import VISITOR_ROUTES

T = TypeVar("T")


def _provide(value: T) -> Provide:
    """A dependency that is always ``value``: built once per app, shared by requests."""

    def provide() -> T:
        return value

    return Provide(provide, use_cache=True, sync_to_thread=False)


def create_app(kiosk: Kiosk, config: KioskConfig | None = None) -> Litestar:
    """The Litestar app for one kiosk."""
    config = config or KioskConfig()
    return Litestar(
        route_handlers=[*VISITOR_ROUTES, *STAY_ROUTES, *STAFF_ROUTES],
        dependencies={
            "kiosk": _provide(kiosk),
            "config": _provide(config),
            "screens": _provide(Screens(config)),
            "staff_sessions": _provide(StaffSessions()),
        },
        template_config=TemplateConfig(
            directory=Path(__file__).parent / "templates", engine=JinjaTemplateEngine
        ),
    )
