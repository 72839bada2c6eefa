"""Segmented mailing (F24): segments over the exports, the core's campaign API, SMTP delivery
with an unsubscribe link, consent re-checked by the core."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

import pytest
import sqlalchemy as sa

from core_service.exports import run_export
from core_service.mailing.campaigns import Composition
from core_service.mailing.outbox import deliver_due
from core_service.models import Customer
from core_service.platform.csrf import FORM_FIELD
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings
from kippu_contract.v1.staff import CompositionIn
from tests.conftest import seed_demo
from tests.support.csrf import page_token
from tests.support.smtp import Inbox, smtp_server
from tests.support.workbench import Builder, FacilityRef, at, core_api
from workbench.data_access import ExportSource
from workbench.data_segments import Segment
from workbench.mailing import MailingState

DAY = dt.date(2026, 11, 20)
COMPOSITION = {
    "kind": "marketing",
    "subject_ja": "{facility}からのお知らせ",
    "subject_en": "News from {facility}",
    "body_ja": "{name}様\n{visit_date}のご来園ありがとうございました。",
    "body_en": "Dear {name},\nthank you for visiting on {visit_date}.",
}
COMPOSED = CompositionIn(**COMPOSITION)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on loopback."""
    with smtp_server() as served:
        yield served


@dataclass
class Crowd:
    settings: Settings
    facility_id: int
    keys: dict[str, str]


@pytest.fixture
def crowd(db_settings: Settings) -> Iterator[Crowd]:
    """Customers of the demo park: ann (opted in, web, visited DAY, checked in), ben (opted
    in, kiosk, visit DAY+1, not checked in), cat (no consent, web, DAY), dan (opted in, only a
    pending order); eve of another facility (opted in)."""
    demo = asyncio.run(seed_demo(db_settings))
    b = Builder(db_settings)
    park = FacilityRef(demo.facility_id)
    other = b.facility("other")
    day = b.product(park)  # type: ignore[arg-type]
    people = {n: b.customer(park, f"{n}@example.jp") for n in ("ann", "ben", "cat", "dan")}  # type: ignore[arg-type]
    b.execute(
        sa.update(Customer).where(Customer.id == people["cat"].id).values(marketing_opt_in=False)
    )
    (ta,) = b.order(
        park, day, DAY, customer=people["ann"], created_at=at(DAY - dt.timedelta(days=3), 10)
    )  # type: ignore[arg-type]
    b.scan(ta, at(DAY, 10))
    b.order(
        park,
        day,
        DAY + dt.timedelta(days=1),
        customer=people["ben"],
        channel="kiosk",  # type: ignore[arg-type]
        created_at=at(DAY - dt.timedelta(days=3), 20),
    )
    b.order(park, day, DAY, customer=people["cat"])  # type: ignore[arg-type]
    (td,) = b.order(park, day, DAY, customer=people["dan"])  # type: ignore[arg-type]
    from core_service.models import Order

    b.execute(sa.update(Order).where(Order.id == td.order_id).values(status="pending"))
    eve = b.customer(other, "eve@example.jp")
    b.order(other, b.product(other), DAY, customer=eve)
    b.close()
    run_export(db_settings)
    keys = {n: c.pseudonym for n, c in people.items()} | {"eve": eve.pseudonym}
    yield Crowd(db_settings, demo.facility_id, keys)


def _source(crowd: Crowd) -> ExportSource:
    assert crowd.settings.export_dir is not None
    return ExportSource(crowd.settings.export_dir)


def _names(crowd: Crowd, keys: list[str]) -> set[str]:
    return {n for n, k in crowd.keys.items() if k in keys}


def test_segment_conditions_select_the_right_customers(crowd: Crowd) -> None:
    src, f = _source(crowd), crowd.facility_id
    assert _names(crowd, src.segment_keys(f, Segment(everyone=True))) == {"ann", "ben", "dan"}
    assert _names(crowd, src.segment_keys(f, Segment())) == {"ann", "ben"}
    assert _names(crowd, src.segment_keys(f, Segment(purchase_completed=False))) == {
        "ann",
        "ben",
        "dan",
    }
    assert _names(crowd, src.segment_keys(f, Segment(visit_date=DAY))) == {"ann"}
    assert _names(crowd, src.segment_keys(f, Segment(channel="kiosk"))) == {"ben"}
    assert _names(crowd, src.segment_keys(f, Segment(checked_in=True))) == {"ann"}
    assert _names(crowd, src.segment_keys(f, Segment(checked_in=False))) == {"ben"}
    assert _names(crowd, src.segment_keys(f, Segment(marketing_only=False, visit_date=DAY))) == {
        "ann",
        "cat",
    }


def test_mailing_state_counts_live_and_samples_only_keys(crowd: Crowd) -> None:
    state = MailingState(_source(crowd), facility_id=crowd.facility_id)
    assert state.count == 2
    state.channel = "kiosk"
    assert state.count == 1 and _names(crowd, state.sample) == {"ben"}
    # Purchase time range (facility time): ann bought at 10:00, ben at 20:00, three days before.
    state.param.update(
        channel="",
        purchased_from=DAY - dt.timedelta(days=3),
        purchased_to=DAY - dt.timedelta(days=3),
        purchased_hour_from=18,
        purchased_hour_to=24,
    )
    assert _names(crowd, state.sample) == {"ben"}
    assert all("@" not in k for k in state.sample)


def test_composition_fills_placeholders_and_appends_unsubscribe() -> None:
    comp = Composition(**COMPOSITION)
    subject, body = comp.render(
        "en",
        {
            "name": "Ann",
            "facility": "Park",
            "visit_date": "2026-11-20",
            "unsubscribe_url": "http://x/unsubscribe/T",
        },
    )
    assert subject == "News from Park"
    assert (
        "Dear Ann" in body
        and "2026-11-20" in body
        and body.rstrip().endswith("http://x/unsubscribe/T")
    )


def test_core_sends_only_to_consenting_customers_of_its_facility(
    crowd: Crowd, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    settings = dataclasses.replace(crowd.settings, smtp_host="127.0.0.1", smtp_port=port)
    with core_api(settings, "manager") as core:
        out = core.send_mailing(COMPOSED, list(crowd.keys.values()), {"everyone": True})
        assert out.status == "queued" and out.recipients == 3 and out.skipped == 2
        asyncio.run(_deliver(settings))
        assert core.mailings()[0].status == "sent"
    to = sorted(m["To"] for m in inbox.messages)
    assert to == ["ann@example.jp", "ben@example.jp", "dan@example.jp"]


def test_unsubscribe_link_turns_marketing_mail_off(crowd: Crowd, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    settings = dataclasses.replace(crowd.settings, smtp_host="127.0.0.1", smtp_port=port)
    with core_api(settings, "manager") as core:
        core.send_mailing(COMPOSED, [crowd.keys["ann"]], {})
        asyncio.run(_deliver(settings))
        body = _text(inbox.messages[0])
        assert "2026-11-20" in body  # {visit_date}
        path = re.search(r"https?://[^/\s]+(/unsubscribe/\S+)", body).group(1)  # type: ignore[union-attr]
        page = core.http.get(path)
        assert page.status_code == 200 and 'id="unsubscribe"' in page.text
        assert core.http.post(path).status_code == 403  # no CSRF token: another site's form
        assert core.send_mailing(COMPOSED, [crowd.keys["ann"]], {}).recipients == 1  # still on
        token = {FORM_FIELD: page_token(page.text)}
        assert core.http.post(path, data=token).status_code == 200
        assert core.http.post(path, data=token).status_code == 200  # idempotent
        again = core.send_mailing(COMPOSED, [crowd.keys["ann"]], {})
        assert again.recipients == 0 and again.skipped == 1
        assert core.http.get("/unsubscribe/forged").status_code == 404


def test_test_mail_goes_to_the_staff_member_only(crowd: Crowd, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    settings = dataclasses.replace(crowd.settings, smtp_host="127.0.0.1", smtp_port=port)
    with core_api(settings, "manager") as core:
        state = MailingState(
            _source(crowd),
            core,
            facility_id=crowd.facility_id,
            **{k: v for k, v in COMPOSITION.items() if k != "kind"},
        )
        assert state.send_test("en")
        asyncio.run(_deliver(settings))
    (message,) = inbox.messages
    assert message["To"].startswith("manager@") and message["Subject"].startswith("[TEST]")


def test_workbench_send_hands_keys_to_the_core(crowd: Crowd) -> None:
    with core_api(crowd.settings, "manager") as core:
        state = MailingState(
            _source(crowd),
            core,
            facility_id=crowd.facility_id,
            **{k: v for k, v in COMPOSITION.items() if k != "kind"},
        )
        assert state.send(), state.message
        assert state.campaigns[0].recipients == 2


def test_incomplete_composition_is_refused(crowd: Crowd) -> None:
    with core_api(crowd.settings, "manager") as core:
        state = MailingState(_source(crowd), core, facility_id=crowd.facility_id, subject_ja="x")
        assert not state.send() and "422" in state.message


def test_outbox_paces_sends_by_the_rate_limit(crowd: Crowd, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    settings = dataclasses.replace(crowd.settings, smtp_host="127.0.0.1", smtp_port=port)
    with core_api(settings, "manager") as core:
        core.send_mailing(COMPOSED, list(crowd.keys.values()), {})
    started = asyncio.run(_deliver(dataclasses.replace(settings, mail_rate_per_second=10.0)))
    assert started >= 0.2 and len(inbox.messages) == 3  # 3 sends, 0.1 s apart


async def _deliver(settings: Settings) -> float:
    engine = make_engine(settings)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    try:
        await deliver_due(make_sessionmaker(engine), settings)
    finally:
        await engine.dispose()
    return loop.time() - t0


def _text(message: Message) -> str:
    parsed = email.message_from_bytes(message.as_bytes())
    part = next(p for p in parsed.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")  # type: ignore[union-attr]
