"""How the kiosk's pages are rendered: the visitor's language and the templates' helpers.

One :class:`Screens` per app, injected into every route handler (the visitor pages of
:mod:`kiosk_driver.visitor_ui` and the staff screen of :mod:`kiosk_driver.staff_ui`), so
every page picks the language the same way and offers its template the same helpers.
"""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request
from litestar.response import Template

from kiosk_driver.catalog import sold_out, unit_amount
from kiosk_driver.config import KioskConfig
from kiosk_driver.layout import yen
from kiosk_driver.strings import STRINGS

Language = Literal["ja", "en"]


class Screens:
    """Renders the kiosk's templates for one request, in the visitor's language."""

    def __init__(self, config: KioskConfig) -> None:
        self.config = config

    def language(self, request: Request[Any, Any, Any]) -> Language:
        """The language switch's cookie, else the kiosk's default; Japanese if unknown."""
        lang = request.cookies.get("lang", self.config.locale)
        return "en" if lang == "en" else "ja"

    def page(
        self, request: Request[Any, Any, Any], name: str, status: int = 200, **context: Any
    ) -> Template:
        """The template ``name`` with the shared helpers and ``context``."""
        lang = self.language(request)
        return Template(
            template_name=name,
            status_code=status,
            context={
                "lang": lang,
                "t": lambda key: STRINGS[key][0 if lang == "ja" else 1],
                "name": lambda obj: getattr(obj, f"name_{lang}", ""),
                "label": lambda obj, attr="label": getattr(obj, f"{attr}_{lang}", ""),
                "yen": yen,
                "unit_amount": unit_amount,
                "sold_out": sold_out,
                "idle_seconds": self.config.idle_seconds,
                "path": request.url.path,
                **context,
            },
        )

    def out_of_service(self, request: Request[Any, Any, Any], reason: str) -> Template:
        """休止中 / Out of service with the reason; the page retries by itself, so the
        kiosk recovers without anyone touching it."""
        return self.page(
            request,
            "message.html",
            503,
            key="out_of_service",
            hint="out_of_service_hint",
            reason=f"reason_{reason}",
            idle=False,
            refresh=10,
        )
