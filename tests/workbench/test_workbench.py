"""The workbench: attendance queries, the attendance state, the login and the served app."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import msgspec
import pytest

from core_service.app import create_app
from core_service.demo.data import DEMO_PASSWORD, DemoFacility, demo_staff_email
from core_service.exports import run_export
from core_service.models import Facility
from core_service.platform.settings import Settings
from kippu_contract.v1.common import FacilityOut
from kippu_contract.v1.staff import LoginOut, StaffOut
from tests.support import REPO_ROOT
from tests.support.browser import launch_chromium, require_chromium
from tests.support.csrf import forging_page, xsrf_token
from tests.support.live_server import serve_directory
from tests.support.workbench import Builder, at
from workbench import core_client
from workbench.attendance import AttendanceState
from workbench.data_access import ExportSource

DAY = dt.date(2026, 11, 25)
ROOT = REPO_ROOT


@dataclass
class Scenario:
    settings: Settings
    builder: Builder
    north: Facility
    south: Facility

    def source(self) -> ExportSource:
        assert self.settings.export_dir is not None
        return ExportSource(self.settings.export_dir)


@pytest.fixture
def scenario(sqlite_settings: Settings) -> Iterator[Scenario]:
    """Two facilities; north has 3 visitors and 5 valid admission tickets on DAY.

    north: day tickets a b c d, an annual pass p (valid from ten days before), a cancelled
    day ticket, a coupon book and a ticket for the next day. Admitted on DAY: a (twice, with
    an exit between), b, and p at 00:30 Tokyo time (still the previous day in UTC). Not
    admitted: c (refused), d (yesterday), the coupon book (not an admission).
    south: 2 tickets, both admitted on DAY; one of south's scans names north's ticket c.
    """
    b = Builder(sqlite_settings)
    north, south = b.facility("north"), b.facility("south")
    day_ticket, pass_, coupon = (
        b.product(north),
        b.product(north, "annual_pass"),
        b.product(north, "coupon_book"),
    )
    gate = b.gate(north)
    ta, tb, tc, td = b.order(north, day_ticket, DAY, quantity=4)
    (tp,) = b.order(north, pass_, DAY - dt.timedelta(days=10))
    (cancelled,) = b.order(north, day_ticket, DAY)
    b.cancel(cancelled)
    (tk,) = b.order(north, coupon, DAY)
    b.order(north, day_ticket, DAY + dt.timedelta(days=1))
    b.scan(ta, at(DAY, 10, 5), gate)
    b.scan(ta, at(DAY, 12), gate, direction="exit")
    b.scan(ta, at(DAY, 13), gate)
    b.scan(tb, at(DAY, 10, 40), gate)
    b.scan(tc, at(DAY, 11), gate, result="already_used")
    b.scan(tp, at(DAY, 0, 30), gate)
    b.scan(tk, at(DAY, 10, 10), gate)
    b.scan(td, at(DAY - dt.timedelta(days=1), 23, 30), gate)

    south_tickets = b.order(south, b.product(south), DAY, quantity=2)
    for ticket in south_tickets:
        b.scan(ticket, at(DAY, 10), b.gate(south))
    b.scan(tc, at(DAY, 10, 30), facility_id=south.id)  # misrouted: never north's, never south's
    run_export(sqlite_settings)
    try:
        yield Scenario(sqlite_settings, b, north, south)
    finally:
        b.close()


# -- data access ------------------------------------------------------------------------


def test_admitted_counts_distinct_admission_tickets_admitted_that_day(scenario: Scenario) -> None:
    assert scenario.source().attendance(scenario.north.id, DAY).admitted == 3


def test_valid_counts_uncancelled_admission_tickets_valid_that_day(scenario: Scenario) -> None:
    assert scenario.source().attendance(scenario.north.id, DAY).valid == 5


def test_visit_rate_is_admitted_over_valid(scenario: Scenario) -> None:
    assert scenario.source().attendance(scenario.north.id, DAY).visit_rate == pytest.approx(0.6)


def test_admissions_per_hour_uses_local_hour_of_first_entry(scenario: Scenario) -> None:
    frame = scenario.source().admissions_per_hour(scenario.north.id, DAY)

    assert list(frame["hour"]) == list(range(24))
    assert {h: n for h, n in zip(frame["hour"], frame["admissions"], strict=True) if n} == {
        0: 1,
        10: 2,
    }


def test_scans_of_another_facility_never_count(scenario: Scenario) -> None:
    source = scenario.source()
    south = source.attendance(scenario.south.id, DAY)

    assert (south.admitted, south.valid) == (2, 2)
    assert source.admissions_per_hour(scenario.north.id, DAY)["admissions"].sum() == 3


def test_a_ticket_moved_to_another_day_counts_only_on_its_new_day(scenario: Scenario) -> None:
    """The old version stays in the old date partition; only the newest one counts."""
    b = scenario.builder
    (ticket,) = b.order(scenario.north, b.product(scenario.north), DAY)
    run_export(scenario.settings)
    tomorrow = DAY + dt.timedelta(days=1)
    b.update_ticket(ticket, valid_from=tomorrow, valid_until=tomorrow)
    run_export(scenario.settings)

    source = scenario.source()

    assert source.attendance(scenario.north.id, DAY).valid == 5
    assert source.attendance(scenario.north.id, tomorrow).valid == 3


def test_no_exports_means_zero_and_no_visit_rate(tmp_path: Path) -> None:
    attendance = ExportSource(tmp_path / "empty").attendance(1, DAY)

    assert (attendance.admitted, attendance.valid, attendance.visit_rate) == (0, 0, None)


# -- state ------------------------------------------------------------------------------


def test_state_derives_values_for_facility_and_date(scenario: Scenario) -> None:
    state = AttendanceState(scenario.source(), facility_id=scenario.north.id, date=DAY)

    assert (state.admitted, state.valid, state.visit_rate) == (3, 5, pytest.approx(0.6))
    assert state.per_hour["admissions"].sum() == 3


def test_state_refresh_reads_new_exports(scenario: Scenario) -> None:
    state = AttendanceState(scenario.source(), facility_id=scenario.north.id, date=DAY)
    (ticket,) = scenario.builder.order(
        scenario.north, scenario.builder.product(scenario.north), DAY
    )
    scenario.builder.scan(ticket, at(DAY, 15))
    run_export(scenario.settings)

    state.refresh()

    assert (state.admitted, state.valid) == (4, 6)
    assert state.per_hour.set_index("hour").loc[15, "admissions"] == 1


def test_state_recomputes_when_date_changes(scenario: Scenario) -> None:
    state = AttendanceState(scenario.source(), facility_id=scenario.north.id, date=DAY)

    state.date = DAY + dt.timedelta(days=1)

    assert (state.admitted, state.valid) == (0, 2)  # tomorrow's ticket and the annual pass


def test_state_defaults_to_the_facility_today(tmp_path: Path) -> None:
    source = ExportSource(tmp_path)

    assert AttendanceState(source, facility_id=1).date == source.today(1)


# -- independence from the core ---------------------------------------------------------

_CORE_PACKAGES = ("core_service", "sqlalchemy", "kippu_plugins", "kippu_cli")


def _loaded_core_modules(*modules: str) -> list[str]:
    """The core (or ORM) modules a fresh interpreter holds after importing ``modules``."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {_CORE_PACKAGES!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return list(json.loads(done.stdout))


def test_workbench_data_and_state_modules_load_no_core_module() -> None:
    """What the notebooks import reads the exports and talks HTTP; nothing of the core."""
    modules = ("workbench.data_access", "workbench.attendance", "workbench.sales")
    assert _loaded_core_modules(*modules, "workbench.mailing", "workbench.settings") == []


@pytest.mark.slow
def test_served_workbench_loads_no_core_module() -> None:
    assert _loaded_core_modules("workbench.app", "workbench.command") == []


# -- login ------------------------------------------------------------------------------

GOOD = {"facility": "north", "email": "boss@north.example", "password": "correct horse"}


def _fake_core(request: httpx.Request) -> httpx.Response:
    assert request.url.path == "/api/v1/auth/login"
    if json.loads(request.content) != GOOD:
        return httpx.Response(401, json={"detail": "invalid credentials"})
    answer = msgspec.to_builtins(
        LoginOut(
            token="tok-123",
            role="manager",
            staff=StaffOut(id=3, email=GOOD["email"], display_name="Boss", role="manager"),
            facility=FacilityOut(
                id=7, slug="north", name_ja="北パーク", name_en="North", tax_registration_number=""
            ),
        )
    )
    # A newer core may answer with more than this workbench knows.
    answer["session_expires_in"] = 3600
    answer["facility"]["logo_url"] = "/static/north.png"
    return httpx.Response(200, json=answer)


async def test_login_returns_the_staff_identity_from_the_core() -> None:
    identity = await core_client.login(
        "http://core", **GOOD, transport=httpx.MockTransport(_fake_core)
    )

    assert identity is not None
    assert (identity.facility_id, identity.role, identity.token) == (7, "manager", "tok-123")


async def test_login_reports_an_answer_missing_a_field_as_unavailable() -> None:
    def partial(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"token": "tok-123", "role": "manager"})

    with pytest.raises(core_client.CoreUnavailable, match="unexpected answer"):
        await core_client.login("http://core", **GOOD, transport=httpx.MockTransport(partial))


async def test_login_rejects_bad_credentials() -> None:
    identity = await core_client.login(
        "http://core", "north", GOOD["email"], "wrong", transport=httpx.MockTransport(_fake_core)
    )

    assert identity is None


async def test_login_reports_an_unreachable_core_as_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(core_client.CoreUnavailable):
        await core_client.login("http://core", **GOOD, transport=httpx.MockTransport(refuse))


# -- views ------------------------------------------------------------------------------


def test_attendance_page_renders_in_japanese_and_english(scenario: Scenario) -> None:
    import panel as pn
    from bokeh.document import Document

    from workbench.app import AttendancePage

    identity = core_client.StaffIdentity("t", "manager", "m@n", 1, "north", "北パーク", "North")
    state = AttendanceState(scenario.source(), facility_id=scenario.north.id, date=DAY)
    page = AttendancePage(state=state, identity=identity, lang="ja")
    root = pn.panel(page).get_root(Document())

    def rendered() -> str:
        return " ".join(
            str(getattr(m, "text", "")) for m in root.references() if hasattr(m, "text")
        )

    assert "入場者数" in rendered() and "北パーク" in rendered() and "60.0%" in rendered()
    page.lang = "en"
    assert "Visitors admitted" in rendered() and "North" in rendered()
    assert any(type(m).__name__ == "VBar" for m in root.references())  # the hourly bars


# -- served app -------------------------------------------------------------------------


class _CoreHandler(BaseHTTPRequestHandler):
    #: Bearer tokens the workbench logged out with.
    logouts: ClassVar[list[str]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        request = httpx.Request(
            "POST",
            f"http://core{self.path}",
            content=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
        )
        if request.url.path == "/api/v1/auth/logout":
            self.logouts.append(self.headers.get("Authorization", ""))
            response = httpx.Response(204, content=b"")
        else:
            response = _fake_core(request)
        self.send_response(response.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served_workbench(tmp_path: Path) -> Iterator[str]:
    """``kippu workbench`` in a subprocess, configured as in production by the
    environment (no database URL, no core secret), logging in against a fake core."""
    core = ThreadingHTTPServer(("127.0.0.1", 0), _CoreHandler)
    threading.Thread(target=core.serve_forever, daemon=True).start()
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("KIPPU_DATABASE_URL", "KIPPU_SECRET_KEY")
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "kippu_cli", "workbench", "--port", str(port)],
        cwd=ROOT,
        env={
            **env,
            "PYTHONPATH": str(ROOT),
            "KIPPU_EXPORT_DIR": str(tmp_path / "exports"),
            "KIPPU_BASE_URL": f"http://127.0.0.1:{core.server_port}",
            "KIPPU_WORKBENCH_SECRET_KEY": "served-workbench-test-secret",
            "KIPPU_WORKBENCH_REFRESH_SECONDS": "1",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/login", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"workbench did not start:\n{output}")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()
        core.shutdown()
        core.server_close()


@pytest.mark.slow
def test_served_workbench_requires_a_core_login(served_workbench: str) -> None:
    with httpx.Client(base_url=served_workbench, timeout=10) as client:
        anonymous = client.get("/attendance")
        form = client.get("/login", params={"lang": "en"})
        xsrf = {"_xsrf": xsrf_token(form.text)}
        refused = client.post("/login", data={**GOOD, **xsrf, "password": "wrong"})
        accepted = client.post("/login", data={**GOOD, **xsrf, "lang": "en"})
        page = client.get("/attendance")

    assert anonymous.status_code == 302 and "login" in anonymous.headers["location"]
    assert form.status_code == 200 and 'name="password"' in form.text and "日本語" in form.text
    assert refused.status_code == 302 and "error=invalid" in refused.headers["location"]
    assert "kippu_staff" not in refused.cookies
    assert accepted.status_code == 302 and "kippu_staff" in accepted.cookies
    assert "lang=en" in accepted.headers["location"]
    assert page.status_code == 200 and "入場状況" in page.text
    # Every session cookie is HttpOnly and SameSite (plain HTTP here: not Secure).
    session_cookies = [c for c in accepted.headers.get_list("set-cookie") if "=;" not in c]
    assert {c.split("=", 1)[0] for c in session_cookies} >= {"kippu_staff", "user"}
    for cookie in session_cookies:
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


@pytest.mark.slow
def test_served_workbench_logout_ends_the_core_token(served_workbench: str) -> None:
    _CoreHandler.logouts.clear()
    with httpx.Client(base_url=served_workbench, timeout=10) as client:
        form = client.get("/login")
        client.post("/login", data={**GOOD, "_xsrf": xsrf_token(form.text)})
        assert client.get("/attendance").status_code == 200
        logged_out = client.get("/logout")
        after = client.get("/attendance")
    assert logged_out.status_code == 200
    assert _CoreHandler.logouts == ["Bearer tok-123"]
    assert after.status_code == 302 and "login" in after.headers["location"]


@pytest.mark.slow
def test_served_workbench_refuses_a_login_post_without_its_xsrf_token(
    served_workbench: str,
) -> None:
    """A form from another site has the browser's cookie sent but cannot read the token."""
    with httpx.Client(base_url=served_workbench, timeout=10) as client:
        form = client.get("/login")
        assert "_xsrf" in client.cookies
        forged = client.post("/login", data=GOOD)
        wrong = client.post("/login", data={**GOOD, "_xsrf": "2|00|00|00"})
        page = client.get("/attendance")
    assert form.status_code == 200
    for refused in (forged, wrong):
        assert refused.status_code == 403 and 'id="xsrf-refused"' in refused.text
        assert "別のサイト" in refused.text and "another site" in refused.text
        assert "kippu_staff" not in refused.cookies
    assert page.status_code == 302 and "login" in page.headers["location"]


@pytest.mark.slow
@pytest.mark.browser
def test_a_login_posted_from_another_site_is_refused_and_the_workbench_form_works(
    served_workbench: str, tmp_path: Path
) -> None:
    """In chromium: another origin's page auto-submits good credentials to the login;
    Tornado refuses it (no ``_xsrf``) with the bilingual page, no staff cookie is set;
    the workbench's own form then logs in."""
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    root = tmp_path / "other-site"
    root.mkdir()
    (root / "login.html").write_text(forging_page(f"{served_workbench}/login", GOOD))
    with serve_directory(root) as site_url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{served_workbench}/login")  # the browser holds the _xsrf cookie
            page.goto(f"{site_url}/login.html")
            page.wait_for_url(f"{served_workbench}/login")
            expect(page.locator("#xsrf-refused")).to_contain_text("別のサイト")
            expect(page.locator("#xsrf-refused")).to_contain_text("another site")
            assert "kippu_staff" not in {c["name"] for c in context.cookies()}

            page.goto(f"{served_workbench}/login?lang=en")
            page.fill("#facility", GOOD["facility"])
            page.fill("#email", GOOD["email"])
            page.fill("#password", GOOD["password"])
            page.click("button[type=submit]")
            page.wait_for_url("**/attendance**")
            assert "kippu_staff" in {c["name"] for c in context.cookies()}
        finally:
            browser.close()


def test_state_tick_moves_a_page_showing_today_to_the_next_day(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = scenario.source()
    monkeypatch.setattr(source, "today", lambda facility_id: DAY)
    state = AttendanceState(source, facility_id=scenario.north.id)
    monkeypatch.setattr(source, "today", lambda facility_id: DAY + dt.timedelta(days=1))

    state.tick()

    assert state.date == DAY + dt.timedelta(days=1)
    assert state.valid == 2


def test_state_tick_keeps_a_chosen_past_date(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = scenario.source()
    monkeypatch.setattr(source, "today", lambda facility_id: DAY + dt.timedelta(days=1))
    state = AttendanceState(source, facility_id=scenario.north.id, date=DAY)
    monkeypatch.setattr(source, "today", lambda facility_id: DAY + dt.timedelta(days=2))

    state.tick()

    assert (state.date, state.admitted) == (DAY, 3)


async def test_login_works_against_the_real_core(db_settings: Settings, demo: DemoFacility) -> None:
    """Contract: the workbench's login call and the core's login endpoint agree."""
    app = create_app(db_settings, background=False)
    transport = httpx.ASGITransport(app=app)
    email = demo_staff_email("manager")

    async with app.lifespan():
        good = await core_client.login(
            "http://core", demo.slug, email, DEMO_PASSWORD, transport=transport
        )
        bad = await core_client.login(
            "http://core", demo.slug, email, "wrong password", transport=transport
        )

    assert good is not None and (good.facility_id, good.role) == (demo.facility_id, "manager")
    assert bad is None


async def test_logout_works_against_the_real_core(
    db_settings: Settings, demo: DemoFacility
) -> None:
    """Contract: the workbench's logout ends the token at the core."""
    app = create_app(db_settings, background=False)
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan():
        identity = await core_client.login(
            "http://core", demo.slug, demo_staff_email("manager"), DEMO_PASSWORD,
            transport=transport,
        )  # fmt: skip
        assert identity is not None
        assert await core_client.logout("http://core", identity.token, transport=transport)
        async with httpx.AsyncClient(transport=transport, base_url="http://core") as client:
            me = await client.get(
                "/api/v1/auth/me", headers={"Authorization": f"Bearer {identity.token}"}
            )
    assert me.status_code == 401
