"""The Panel workbench for managers: staff login and the live attendance page (F23).

``serve_workbench(settings, ...)`` is what ``kippu workbench`` calls. It serves:

- ``/login``: a bilingual (日本語 / English) login form. Credentials are checked by the
  core (``POST /api/v1/auth/login``) through a custom login handler plugged into Panel's
  ``BasicAuthProvider``; Panel/Tornado signed cookies carry the session, so there is no
  session crypto of our own. The core's answer (token, role, facility) is kept in a signed,
  HTTP-only cookie and decides which facility the pages show: a manager never picks
  another facility's id.
- ``/attendance``: visitors admitted, visit rate and admissions per hour, refreshed every
  ``refresh_seconds``. Each refresh first runs the exporter in-process (throttled to one
  run per interval for the whole server, and skipped while another exporter such as
  ``kippu export --follow`` holds the export lock), then re-reads the Parquet exports.

State lives in ``workbench.attendance``, data access in ``workbench.data_access``; this
module only renders and serves.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import logging
import time
from collections.abc import Callable
from hashlib import sha256
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import duckdb
import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the renderer that .opts() needs
import httpx
import jinja2
import pandas as pd
import panel as pn
import param
from panel.auth import BasicAuthProvider, BasicLoginHandler, LogoutHandler
from panel.config import config as pn_config
from tornado.web import decode_signed_value

from core_service.exports import export_async
from core_service.settings import Settings

from . import core_client
from .attendance import AttendanceState
from .core_client import StaffIdentity
from .data_access import ExportSource

log = logging.getLogger(__name__)

IDENTITY_COOKIE = "kippu_staff"
LANGS = {"日本語": "ja", "English": "en"}

TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "app": "kippu ワークベンチ",
        "attendance": "入場状況",
        "admitted": "入場者数",
        "valid": "有効チケット数",
        "visit_rate": "来場率",
        "per_hour": "時間帯別入場者数",
        "hour": "時",
        "admissions": "入場者",
        "date": "日付",
        "updated": "更新",
        "logout": "ログアウト",
        "login": "ログイン",
        "facility": "施設 (スラッグ)",
        "email": "メールアドレス",
        "password": "パスワード",
        "invalid": "ログインできませんでした。施設・メールアドレス・パスワードをご確認ください。",
        "unavailable": "サーバーに接続できません。しばらくしてからもう一度お試しください。",
        "not_logged_in": "ログインしてください。",
    },
    "en": {
        "app": "kippu workbench",
        "attendance": "Attendance",
        "admitted": "Visitors admitted",
        "valid": "Valid tickets",
        "visit_rate": "Visit rate",
        "per_hour": "Admissions per hour",
        "hour": "Hour",
        "admissions": "Admissions",
        "date": "Date",
        "updated": "Updated",
        "logout": "Log out",
        "login": "Log in",
        "facility": "Facility (slug)",
        "email": "E-mail",
        "password": "Password",
        "invalid": "Login failed. Please check the facility, e-mail and password.",
        "unavailable": "The server cannot be reached. Please try again shortly.",
        "not_logged_in": "Please log in.",
    },
}


def _text(lang: str, key: str) -> str:
    return TEXT.get(lang, TEXT["ja"])[key]


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


class KippuLoginHandler(BasicLoginHandler):
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
            )
        )

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


class KippuLogoutHandler(LogoutHandler):
    """Panel's logout, also forgetting the core token."""

    def get(self) -> None:
        self.clear_cookie(IDENTITY_COOKIE, path=pn_config.cookie_path)
        super().get()


class KippuAuthProvider(BasicAuthProvider):
    """Panel's ``BasicAuthProvider`` whose login form asks the core (see module docstring)."""

    def __init__(self, core_url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        # Set before super().__init__(), which already asks for login_handler.
        self._core_url = core_url.rstrip("/")
        self._transport = transport
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
                "_login_endpoint": getattr(self, "_login_endpoint", "/login"),
            },
        )

    @property
    def logout_handler(self) -> type[LogoutHandler]:
        KippuLogoutHandler._login_endpoint = self._login_endpoint
        return KippuLogoutHandler


def current_identity() -> StaffIdentity | None:
    """The logged-in staff member of the current Panel session, from the signed cookie."""
    raw = pn.state.cookies.get(IDENTITY_COOKIE)
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


# -- views ------------------------------------------------------------------------------


def admissions_chart(per_hour: pd.DataFrame, lang: str) -> hv.Bars:
    """Admissions per hour as a HoloViews bar chart, labelled in ``lang``."""
    frame = per_hour.assign(hour=per_hour["hour"].map(lambda h: f"{h:02d}"))
    return hv.Bars(
        frame,
        kdims=[("hour", _text(lang, "hour"))],
        vdims=[("admissions", _text(lang, "admissions"))],
    ).opts(
        title=_text(lang, "per_hour"),
        color="#107bba",
        responsive=True,
        height=320,
        tools=["hover"],
        default_tools=[],
        toolbar=None,
        hooks=[_whole_number_ticks],
    )


def _whole_number_ticks(plot: Any, element: Any) -> None:
    # Visitors come in whole numbers; Bokeh would otherwise tick 0.2, 0.4, ... on quiet days.
    plot.state.yaxis.ticker.min_interval = 1


def _card(label: str, value: str) -> pn.pane.HTML:
    return pn.pane.HTML(
        f'<div style="font-size:.9em;color:#555">{label}</div>'
        f'<div style="font-size:2.4em;font-weight:600">{value}</div>',
        styles={"border": "1px solid #ddd", "padding": "0.5em 1em", "background": "#fff"},
        min_width=180,
    )


class AttendancePage(pn.viewable.Viewer):
    """The live attendance page of one facility, in Japanese or English."""

    state = param.ClassSelector(class_=AttendanceState)
    identity = param.ClassSelector(class_=StaffIdentity)
    lang = param.Selector(default="ja", objects=["ja", "en"])

    def _header(self, lang: str) -> pn.pane.Markdown:
        # The name comes from the core's data; escaped so it can only ever be text.
        name = html.escape(self.identity.facility_name(lang)) if self.identity else ""
        return pn.pane.Markdown(f"## {_text(lang, 'attendance')} · {name}")

    def _numbers(self, lang: str, admitted: int, valid: int, rate: float | None) -> pn.Row:
        rate_text = "—" if rate is None else f"{rate:.1%}"
        return pn.Row(
            _card(_text(lang, "admitted"), f"{admitted:,}"),
            _card(_text(lang, "valid"), f"{valid:,}"),
            _card(_text(lang, "visit_rate"), rate_text),
        )

    def _footer(self, lang: str, refreshed_at: Any, tz: str) -> pn.pane.Markdown:
        # The facility's clock, not the server's: managers compare it with the gates.
        when = refreshed_at.astimezone(ZoneInfo(tz)).strftime("%H:%M:%S") if refreshed_at else "—"
        return pn.pane.Markdown(f"{_text(lang, 'updated')}: {when}", styles={"color": "#777"})

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state.param
        lang_switch = pn.widgets.RadioButtonGroup.from_param(
            self.param.lang, options=LANGS, name=""
        )
        date_picker = pn.widgets.DatePicker.from_param(s.date, name="")
        logout = pn.pane.HTML(
            pn.bind(lambda lang: f'<a href="./logout">{_text(lang, "logout")}</a>', self.param.lang)
        )
        return pn.Column(
            pn.Row(pn.bind(self._header, self.param.lang), pn.Spacer(), lang_switch, logout),
            date_picker,
            pn.bind(self._numbers, self.param.lang, s.admitted, s.valid, s.visit_rate),
            pn.pane.HoloViews(pn.bind(admissions_chart, s.per_hour, self.param.lang)),
            pn.bind(self._footer, self.param.lang, s.refreshed_at, s.timezone),
            sizing_mode="stretch_width",
            max_width=1100,
        )


# -- serving ----------------------------------------------------------------------------


class ExportTicker:
    """Runs the exporter at most once per ``interval`` for the whole workbench process."""

    def __init__(self, settings: Settings, interval: float) -> None:
        self.settings = settings
        self.interval = interval
        self._last = 0.0
        self._lock = asyncio.Lock()

    async def maybe_run(self) -> None:
        # Every open page ticks; only the first tick of an interval exports.
        if self._lock.locked() or time.monotonic() - self._last < self.interval * 0.8:
            return
        async with self._lock:
            try:
                await export_async(self.settings)
            except Exception:
                log.exception("in-process export failed; pages show the last export")
            finally:
                self._last = time.monotonic()


def attendance_app(
    settings: Settings, ticker: ExportTicker | None, refresh_seconds: float
) -> Callable[[], pn.viewable.Viewable]:
    """The per-session page factory served at ``/attendance``."""

    def page() -> pn.viewable.Viewable:
        lang_arg = pn.state.session_args.get("lang", [b"ja"])[0].decode()
        lang = lang_arg if lang_arg in TEXT else "ja"
        identity = current_identity()
        if identity is None:
            return pn.pane.Markdown(
                f"{_text(lang, 'not_logged_in')} [{_text(lang, 'login')}](./login)"
            )
        assert settings.export_dir is not None
        state = AttendanceState(ExportSource(settings.export_dir), facility_id=identity.facility_id)

        async def tick() -> None:
            if ticker is not None:
                await ticker.maybe_run()
            try:
                state.tick()
            except duckdb.Error:
                # A file merged away between listing and reading (see compaction); the
                # page keeps its numbers and the next tick reads again.
                log.warning("attendance refresh failed; retrying next tick", exc_info=True)

        pn.state.add_periodic_callback(tick, period=int(refresh_seconds * 1000))
        return AttendancePage(state=state, identity=identity, lang=lang)

    return page


def cookie_secret(settings: Settings) -> str:
    """Panel's cookie-signing secret, derived from (not equal to) the deployment secret."""
    return hmac.new(settings.secret_key.encode(), b"kippu-workbench-cookies", sha256).hexdigest()


def serve_workbench(
    settings: Settings,
    port: int = 5006,
    address: str = "127.0.0.1",
    core_url: str = "http://127.0.0.1:8000",
    show: bool = False,
    *,
    refresh_seconds: float = 5.0,
    export_in_process: bool = True,
    websocket_origin: list[str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    start: bool = True,
) -> Any:
    """Serve the workbench; blocks while serving unless ``start=False``.

    ``export_in_process=False`` leaves exporting to ``kippu export --follow``.
    ``websocket_origin`` must list the public host:port when served behind a proxy or on
    a non-loopback address. Returns Panel's server object.
    """
    if websocket_origin is None and address in ("0.0.0.0", "::", ""):
        log.warning(
            "workbench on all interfaces: pass websocket_origin=['<public host>:<port>'], "
            "or browsers reaching it by name will be refused"
        )
    pn.extension(design="bootstrap")
    hv.extension("bokeh", logo=False)
    ticker = ExportTicker(settings, refresh_seconds) if export_in_process else None
    return pn.serve(
        {"attendance": attendance_app(settings, ticker, refresh_seconds)},
        port=port,
        address=address,
        show=show,
        start=start,
        title={"attendance": "kippu · 入場状況 / Attendance"},
        websocket_origin=websocket_origin or [f"{address}:{port}", f"localhost:{port}"],
        auth_provider=KippuAuthProvider(core_url, transport),
        cookie_secret=cookie_secret(settings),
    )
