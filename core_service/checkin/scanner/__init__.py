"""The gate scanner page for staff phones and tablets (``/gate/``), and its static files.

The page is plain HTML and JavaScript served by the core (no CDN at run time: the QR
decoder, jsQR 1.4.0 under the Apache License 2.0, is vendored in ``static/``). It is
enrolled like a kiosk, scans online through ``POST /api/v1/gate/scan`` and keeps deciding
offline from the bundle; see docs/gates.md.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Response, get
from litestar.static_files import create_static_files_router

_HERE = Path(__file__).parent
_PAGE = (_HERE / "index.html").read_bytes()


#: The holder's photo is fetched with the device token and shown from a ``blob:`` URL.
_CSP_SOURCES = {"img-src": ["blob:"]}


@get("/gate/", include_in_schema=False, opt={"csp_sources": _CSP_SOURCES})
async def scanner_page() -> Response[bytes]:
    # The page is the same for every gate: the device token lives in the browser.
    return Response(_PAGE, media_type="text/html; charset=utf-8")


SCANNER_HANDLERS = [
    scanner_page,
    create_static_files_router(
        path="/gate/static", directories=[_HERE / "static"], include_in_schema=False
    ),
]
