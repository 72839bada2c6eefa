"""The Panel workbench for managers: staff login and the pages (F20-F24).

``serve_workbench(settings, ...)`` is what ``kippu workbench`` calls, with the
:class:`~workbench.settings.WorkbenchSettings` (the exports and the core's URL: the
workbench never opens the core's database). It serves:

- ``/login``: a bilingual (日本語 / English) login form. Credentials are checked by the
  core (``POST /api/v1/auth/login``) through a custom login handler plugged into Panel's
  ``BasicAuthProvider``; Panel/Tornado signed cookies carry the session, so there is no
  session crypto of our own. Tornado's ``xsrf_cookies`` is on: the form carries the
  ``_xsrf`` token of its cookie, and a POST without it (another site's form) gets a
  bilingual 403 page. The core's answer (token, role, facility) is kept in a signed,
  HTTP-only cookie and decides which facility the pages show: a manager never picks
  another facility's id.
- ``/attendance``, ``/sales``, ``/mailing``, ``/operations``, ``/catalog``, ``/settings``,
  ``/vouchers``, ``/staff``, ``/devices``, ``/audit``, ``/webhooks``, ``/billing``:
  each page only for the roles ``workbench.roles`` lists (the core's guards decide for
  real). Exported figures refresh every ``settings.refresh_seconds`` from the files the
  core's background export (or ``kippu export --follow``) writes.

State lives in the ``param`` classes (``attendance``, ``sales``, ``mailing``,
``operations``, ``catalog``, ``facility_settings``, ``webhooks``), data access in ``data_access`` (one
``shared_store`` per process, a facility-bound view of it per session), views in
``views_*``; this module only logs in and serves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import duckdb
import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the renderer that .opts() needs
import httpx
import jinja2
import panel as pn
import tornado.web
from panel.auth import BasicAuthProvider, BasicLoginHandler, LogoutHandler
from panel.config import config as pn_config
from tornado.web import decode_signed_value

from workbench import core_client
from workbench.attendance import AttendanceState
from workbench.audit import AuditState
from workbench.billing import BillingState
from workbench.box_office import BoxOfficeState
from workbench.catalog import CatalogState
from workbench.core_client import CoreAPI, StaffIdentity
from workbench.devices import DevicesState
from workbench.facility_settings import SettingsState
from workbench.i18n import LANGS, TEXT, t
from workbench.mailing import MailingState
from workbench.operations import OperationsState
from workbench.payment_keys import PaymentKeysState
from workbench.roles import PAGES, can, can_open
from workbench.sales import SalesState
from workbench.settings import WorkbenchSettings
from workbench.shared_store import FacilitySource, SharedStore
from workbench.staff_admin import StaffAdminState
from workbench.views_admin import OperationsPage, SettingsPage
from workbench.views_attendance import AttendancePage, admissions_chart
from workbench.views_billing import BillingPage
from workbench.views_catalog import CatalogPage
from workbench.views_mailing import MailingPage
from workbench.views_sales import SalesPage
from workbench.views_setup import AuditPage, DevicesPage, StaffPage
from workbench.views_vouchers import VouchersPage
from workbench.views_webhooks import WebhooksPage
from workbench.vouchers import VouchersState
from workbench.webhooks import WebhooksState

__all__ = ["AttendancePage", "admissions_chart", "serve_workbench"]

log = logging.getLogger(__name__)

IDENTITY_COOKIE = "kippu_staff"


def _text(lang: str, key: str) -> str:
    return t(lang, key)


# -- login ------------------------------------------------------------------------------

_LOGIN_TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    """<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t.app }} | {{ t.login }}</title>
<style>
body { font-family: system-ui, "Hiragino Sans", "Noto Sans JP", sans-serif; background: #f6f7f9;
       display: flex; justify-content: center; align-items: center; min-height: 100vh; margin: 0; }
form { background: #fff; border: 1px solid #ddd; padding: 2em; width: 340px; }
label { display: block; margin-top: 1em; font-size: .9em; }
input { width: 100%; padding: .6em; box-sizing: border-box; }
button { margin-top: 1.5em; width: 100%; padding: .7em; background: #107bba; color: #fff;
         border: 0; }
.error { color: #b00020; } nav { text-align: right; font-size: .85em; }
</style>
</head>
<body>
<form action=".{{ login_endpoint }}" method="post">
  <nav>{% for name, code in langs.items() %}{% if code != lang %}
    <a href="?{{ {'lang': code} | urlencode }}" hreflang="{{ code }}">{{ name }}</a>
  {% endif %}{% endfor %}</nav>
  <h1>{{ t.app }}</h1>
  {% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
  <input type="hidden" name="lang" value="{{ lang }}">
  {{ xsrf_field | safe }}
  <label for="facility">{{ t.facility }}</label>
  <input id="facility" name="facility" value="{{ facility }}" required autocomplete="organization">
  <label for="email">{{ t.email }}</label>
  <input id="email" name="email" type="email" value="{{ email }}" required autocomplete="username">
  <label for="password">{{ t.password }}</label>
  <input id="password" name="password" type="password" required autocomplete="current-password">
  <button type="submit">{{ t.login }}</button>
</form>
</body>
</html>"""
)


_REFUSED_TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    """<!DOCTYPE html>
<html lang="ja">
<head><meta charset="utf-8"><title>403 | kippu</title></head>
<body>
<h1>ログインできませんでした / Login refused</h1>
<p id="xsrf-refused">このログインフォームは別のサイトから送信されたか、古くなっています。
ログインページを開き直してください。<br>
This login form was sent from another site or is out of date. Please open the login page
again.</p>
<p><a href=".{{ login_endpoint }}">ログインページへ / To the login page</a></p>
</body>
</html>"""
)


class SafeCookies(tornado.web.RequestHandler):
    """Every cookie these handlers set (Panel's own session cookies included) is
    HttpOnly and SameSite=Lax, and Secure when the request came by HTTPS or the
    workbench is configured to be reached by it (``secure_cookies``)."""

    secure_cookies: bool = False

    def set_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("httponly", True)
        kwargs.setdefault("samesite", "Lax")
        if self.secure_cookies or self.request.protocol == "https":
            kwargs.setdefault("secure", True)
        super().set_cookie(name, value, *args, **kwargs)


class KippuLoginHandler(SafeCookies, BasicLoginHandler):
    """Panel's basic login handler, with the credential check delegated to the core."""

    core_url: str = "http://127.0.0.1:8000"
    transport: httpx.AsyncBaseTransport | None = None

    def get(self) -> None:
        lang = self._lang()
        next_url = self.get_argument("next", None)
        if next_url and next_url.startswith("/") and not next_url.startswith("//"):
            self.set_cookie("next_url", next_url)  # same-site paths only: no open redirect
        error_key = self.get_argument("error", "")
        error = _text(lang, error_key) if error_key in ("invalid", "unavailable") else ""
        self.write(
            _LOGIN_TEMPLATE.render(
                lang=lang,
                t=TEXT[lang],
                langs=LANGS,
                login_endpoint=self._login_endpoint,
                error=error,
                facility=self.get_argument("facility", ""),
                email=self.get_argument("email", ""),
                # Tornado's ``_xsrf`` field: with ``xsrf_cookies`` on, a POST without the
                # value of this browser's ``_xsrf`` cookie is refused (another site's form).
                xsrf_field=self.xsrf_form_html(),
            )
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code != 403:
            super().write_error(status_code, **kwargs)
            return
        # Tornado's own 403 page is a bare English phrase; say what happened, in both
        # languages, and offer the form again (which sets a fresh token).
        self.write(_REFUSED_TEMPLATE.render(login_endpoint=self._login_endpoint))

    async def post(self) -> None:
        lang = self._lang()
        facility = self.get_argument("facility", "").strip()
        email = self.get_argument("email", "").strip()
        password = self.get_argument("password", "")
        try:
            identity = await core_client.login(
                self.core_url, facility, email, password, transport=self.transport
            )
        except core_client.CoreUnavailable as exc:
            log.warning("workbench login: core unavailable: %s", exc)
            self._back_to_form("unavailable", lang, facility, email)
            return
        if identity is None:
            self._back_to_form("invalid", lang, facility, email)
            return
        self.set_current_user(f"{identity.facility_slug}/{identity.email}")
        self.set_secure_cookie(
            IDENTITY_COOKIE,
            identity.to_json(),
            expires_days=pn_config.oauth_expiry,
            httponly=True,
            path=pn_config.cookie_path,
        )
        next_url = self.get_cookie("next_url", "") or "/attendance"
        if not next_url.startswith("/") or next_url.startswith("//"):
            next_url = "/"
        if "lang=" not in next_url:  # the page opens in the language the form was in
            next_url += ("&" if "?" in next_url else "?") + urlencode({"lang": lang})
        self.redirect(next_url)

    def _lang(self) -> str:
        lang = self.get_argument("lang", "ja")
        return lang if lang in TEXT else "ja"

    def _back_to_form(self, error: str, lang: str, facility: str, email: str) -> None:
        query = urlencode({"error": error, "lang": lang, "facility": facility, "email": email})
        self.redirect(f"{self.request.path}?{query}")


class KippuLogoutHandler(SafeCookies, LogoutHandler):
    """Panel's logout, also ending the core token (every token of this staff member:
    a copied cookie stops working too) and forgetting it."""

    core_url: str = "http://127.0.0.1:8000"
    transport: httpx.AsyncBaseTransport | None = None

    async def get(self) -> None:
        identity = _identity_from_cookie(self.get_cookie(IDENTITY_COOKIE))
        if identity is not None:
            await core_client.logout(self.core_url, identity.token, transport=self.transport)
        self.clear_cookie(IDENTITY_COOKIE, path=pn_config.cookie_path)
        super().get()


class KippuAuthProvider(BasicAuthProvider):
    """Panel's ``BasicAuthProvider`` whose login form asks the core (see module docstring)."""

    def __init__(
        self,
        core_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        secure_cookies: bool = False,
    ) -> None:
        # Set before super().__init__(), which already asks for login_handler.
        self._core_url = core_url.rstrip("/")
        self._transport = transport
        self._secure_cookies = secure_cookies
        super().__init__()

    @property
    def login_handler(self) -> type[KippuLoginHandler]:
        # A configured subclass per server, as Panel configures its own handler classes.
        return type(
            "ConfiguredKippuLoginHandler",
            (KippuLoginHandler,),
            {
                "core_url": self._core_url,
                "transport": self._transport,
                "secure_cookies": self._secure_cookies,
                "_login_endpoint": getattr(self, "_login_endpoint", "/login"),
            },
        )

    @property
    def logout_handler(self) -> type[LogoutHandler]:
        return type(
            "ConfiguredKippuLogoutHandler",
            (KippuLogoutHandler,),
            {
                "core_url": self._core_url,
                "transport": self._transport,
                "secure_cookies": self._secure_cookies,
                "_login_endpoint": self._login_endpoint,
            },
        )


def current_identity() -> StaffIdentity | None:
    """The logged-in staff member of the current Panel session, from the signed cookie."""
    return _identity_from_cookie(pn.state.cookies.get(IDENTITY_COOKIE))


def _identity_from_cookie(raw: str | None) -> StaffIdentity | None:
    if not raw or pn_config.cookie_secret is None:
        return None
    value = decode_signed_value(
        pn_config.cookie_secret, IDENTITY_COOKIE, raw, max_age_days=pn_config.oauth_expiry
    )
    if value is None:
        return None
    try:
        return StaffIdentity.from_json(value)
    except (ValueError, TypeError):
        return None


# -- serving ----------------------------------------------------------------------------


def _session_lang() -> str:
    lang_arg = pn.state.session_args.get("lang", [b"ja"])[0].decode()
    return lang_arg if lang_arg in TEXT else "ja"


def _guarded(
    page_name: str, build: Callable[[StaffIdentity, str], pn.viewable.Viewable]
) -> Callable[[], pn.viewable.Viewable]:
    """A per-session page factory that shows the page only to roles that may open it.

    Hiding is a courtesy: the core's guards refuse the page's API calls anyway.
    """

    def page() -> pn.viewable.Viewable:
        lang = _session_lang()
        identity = current_identity()
        if identity is None:
            return pn.pane.Markdown(f"{t(lang, 'not_logged_in')} [{t(lang, 'login')}](./login)")
        if not can_open(identity.role, page_name):
            return pn.pane.Markdown(
                f"{t(lang, 'forbidden')} [{t(lang, 'attendance')}](./attendance)"
            )
        return build(identity, lang)

    return page


def _refreshing(state: Any, refresh_seconds: float, method: str) -> None:
    """Call ``state.<method>()`` every ``refresh_seconds`` while the session lives."""

    def tick() -> None:
        try:
            getattr(state, method)()
        except duckdb.Error:
            # A file merged away between listing and reading (see compaction); the
            # page keeps its numbers and the next tick reads again.
            log.warning("refresh failed; retrying next tick", exc_info=True)

    pn.state.add_periodic_callback(tick, period=int(refresh_seconds * 1000))


def _session_source(shared: SharedStore, facility_id: int) -> FacilitySource:
    """The session's view of the shared store, released when the session ends."""
    source = shared.open(facility_id)
    pn.state.on_session_destroyed(lambda _context: source.close())
    return source


def workbench_pages(
    settings: WorkbenchSettings, shared: SharedStore | None = None
) -> dict[str, Callable[[], pn.viewable.Viewable]]:
    """Every page's per-session factory, by URL path; all share one store (``shared``)."""
    refresh_seconds = settings.refresh_seconds
    if shared is None:
        # Pages tick every refresh_seconds at different moments; reading the files five
        # times per period, on the store's own thread, keeps a scan at most a fifth late.
        shared = SharedStore(
            settings.export_store(), refresh_seconds=refresh_seconds / 5, background=True
        )

    def core(identity: StaffIdentity) -> CoreAPI:
        return CoreAPI.connect(settings.core_url, identity.token)

    def source(identity: StaffIdentity) -> FacilitySource:
        return _session_source(shared, identity.facility_id)

    def attendance(identity: StaffIdentity, lang: str) -> pn.viewable.Viewable:
        state = AttendanceState(source(identity), facility_id=identity.facility_id)
        _refreshing(state, refresh_seconds, "tick")
        return AttendancePage(state=state, identity=identity, lang=lang)

    def sales(identity: StaffIdentity, lang: str) -> pn.viewable.Viewable:
        state = SalesState(
            source(identity), core(identity), facility_id=identity.facility_id, lang=lang
        )
        _refreshing(state, refresh_seconds * 6, "refresh")
        return SalesPage(state=state, identity=identity, lang=lang)

    def mailing(identity: StaffIdentity, lang: str) -> pn.viewable.Viewable:
        state = MailingState(source(identity), core(identity), facility_id=identity.facility_id)
        state.load_campaigns()
        _refreshing(state, refresh_seconds * 2, "load_campaigns")
        return MailingPage(state=state, identity=identity, lang=lang)

    def operations(identity: StaffIdentity, lang: str) -> pn.viewable.Viewable:
        api = core(identity)
        state = OperationsState(api)
        _refreshing(state, refresh_seconds * 2, "refresh_devices")
        box_office = (
            BoxOfficeState(api, lang=lang) if can(identity.role, "operations.cancel") else None
        )
        return OperationsPage(state=state, box_office=box_office, identity=identity, lang=lang)

    def catalog(identity: StaffIdentity, lang: str) -> pn.viewable.Viewable:
        timezone = source(identity).timezone(identity.facility_id)
        state = CatalogState(core(identity), lang=lang, timezone=timezone)
        return CatalogPage(state=state, identity=identity, lang=lang)

    def facility_settings(identity: StaffIdentity, lang: str) -> pn.viewable.Viewable:
        api = core(identity)
        return SettingsPage(
            state=SettingsState(api),
            payment_keys=PaymentKeysState(api),
            identity=identity,
            lang=lang,
        )

    def staff(identity: StaffIdentity, lang: str) -> pn.viewable.Viewable:
        timezone = source(identity).timezone(identity.facility_id)
        state = StaffAdminState(core(identity), timezone=timezone)
        return StaffPage(state=state, identity=identity, lang=lang)

    def devices(identity: StaffIdentity, lang: str) -> pn.viewable.Viewable:
        exports = source(identity)

        def products() -> dict[str, int]:
            names = exports.product_names(identity.facility_id)
            column = "name_ja" if lang == "ja" else "name_en"
            return {f"{row[column]} ({row['code']})": int(row["id"]) for _, row in names.iterrows()}

        timezone = exports.timezone(identity.facility_id)
        state = DevicesState(core(identity), products=products, timezone=timezone)
        _refreshing(state, refresh_seconds * 2, "load")
        return DevicesPage(state=state, identity=identity, lang=lang)

    def audit(identity: StaffIdentity, lang: str) -> pn.viewable.Viewable:
        timezone = source(identity).timezone(identity.facility_id)
        state = AuditState(core(identity), timezone=timezone)
        return AuditPage(state=state, identity=identity, lang=lang)

    def webhooks(identity: StaffIdentity, lang: str) -> pn.viewable.Viewable:
        timezone = source(identity).timezone(identity.facility_id)
        state = WebhooksState(core(identity), timezone=timezone)
        _refreshing(state, refresh_seconds * 2, "refresh")
        return WebhooksPage(state=state, identity=identity, lang=lang)

    def vouchers(identity: StaffIdentity, lang: str) -> pn.viewable.Viewable:
        timezone = source(identity).timezone(identity.facility_id)
        state = VouchersState(core(identity), timezone=timezone)
        return VouchersPage(state=state, identity=identity, lang=lang)

    def billing(identity: StaffIdentity, lang: str) -> pn.viewable.Viewable:
        return BillingPage(state=BillingState(core(identity)), identity=identity, lang=lang)

    builders = {
        "attendance": attendance,
        "sales": sales,
        "mailing": mailing,
        "operations": operations,
        "catalog": catalog,
        "settings": facility_settings,
        "vouchers": vouchers,
        "staff": staff,
        "devices": devices,
        "audit": audit,
        "webhooks": webhooks,
        "billing": billing,
    }
    return {name: _guarded(name, builders[name]) for name in PAGES}


def serve_workbench(
    settings: WorkbenchSettings,
    port: int = 5006,
    address: str = "127.0.0.1",
    show: bool = False,
    *,
    websocket_origin: list[str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    start: bool = True,
) -> Any:
    """Serve the workbench; blocks while serving unless ``start=False``.

    ``websocket_origin`` must list the public host:port when served behind a proxy or on
    a non-loopback address. Returns Panel's server object.
    """
    loopback = address in ("127.0.0.1", "localhost", "::1")
    if websocket_origin is None and address in ("0.0.0.0", "::", ""):
        log.warning(
            "workbench on all interfaces: pass websocket_origin=['<public host>:<port>'], "
            "or browsers reaching it by name will be refused"
        )
    if settings.uses_development_secret and not loopback:
        log.warning(
            "workbench cookies are signed with the development secret: set "
            "KIPPU_WORKBENCH_SECRET_KEY"
        )
    pn.extension(design="bootstrap")
    hv.extension("bokeh", logo=False)
    return pn.serve(
        workbench_pages(settings),
        port=port,
        address=address,
        show=show,
        start=start,
        title={p: f"kippu · {TEXT['ja'][p]} / {TEXT['en'][p]}" for p in PAGES},
        websocket_origin=websocket_origin or [f"{address}:{port}", f"localhost:{port}"],
        auth_provider=KippuAuthProvider(
            settings.core_url, transport, secure_cookies=settings.secure_cookies
        ),
        cookie_secret=settings.cookie_secret,
        # Tornado checks the ``_xsrf`` field of every POST (the login form is the one).
        xsrf_cookies=True,
    )
