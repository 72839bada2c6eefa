"""notebooks/sales_segments.ipynb runs top to bottom over exports made in the test and
shows one facility's sales and segment counts, never another facility's."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest

from core_service.exports import run_export
from core_service.platform.settings import Settings
from tests.support import REPO_ROOT
from tests.support.notebook import run_notebook
from tests.support.workbench import Builder, at

NOTEBOOK = REPO_ROOT / "notebooks" / "sales_segments.ipynb"
DAY = dt.date(2026, 11, 25)


@pytest.fixture
def exported(sqlite_settings: Settings) -> Iterator[tuple[Settings, int]]:
    """The park: one customer bought 2 tickets online and came, another 1 at a kiosk and
    did not. Another facility's bigger sale must not show."""
    b = Builder(sqlite_settings)
    try:
        other, park = b.facility("other"), b.facility("park")
        stranger = b.customer(other, "stranger@example.jp")
        for ticket in b.order(other, b.product(other), DAY, quantity=5, customer=stranger):
            b.scan(ticket, at(DAY, 9))
        product = b.product(park)
        came = b.customer(park, "came@example.jp")
        online = b.order(park, product, DAY, quantity=2, customer=came)
        b.pay(online[0], "card", 4000)
        b.scan(online[0], at(DAY, 10))
        stayed_away = b.customer(park, "away@example.jp")
        kiosk = b.order(park, product, DAY, customer=stayed_away, channel="kiosk")
        b.pay(kiosk[0], "emoney", 2000)
        run_export(sqlite_settings)
        yield sqlite_settings, park.id
    finally:
        b.close()


def _count(text: str, segment: str) -> int:
    found = re.search(rf"{re.escape(segment)}\s+(\d+)", text)
    assert found, f"{segment!r} not in:\n{text}"
    return int(found.group(1))


@pytest.mark.slow
def test_notebook_shows_sales_by_channel_and_segment_counts(
    exported: tuple[Settings, int],
) -> None:
    settings, facility_id = exported
    text = run_notebook(
        NOTEBOOK,
        {
            "KIPPU_EXPORT_DIR": str(settings.export_dir),
            "KIPPU_FACILITY_ID": str(facility_id),
            "KIPPU_DATE_FROM": (DAY - dt.timedelta(days=1)).isoformat(),
            "KIPPU_DATE_TO": (DAY + dt.timedelta(days=1)).isoformat(),
        },
    )
    # 3 tickets of (1,800 + 200 handling fee): 2 online, 1 at the kiosk.
    assert "total: 6,000 yen for 3 items" in text
    assert re.search(r"web\s+2\s+4000\s+66\.7%", text), text
    assert re.search(r"kiosk\s+1\s+2000\s+33\.3%", text), text
    assert re.search(r"emoney\s+1\s+2000", text) and re.search(r"card\s+2\s+4000", text)
    assert ":Bars" in text  # the daily chart's repr
    assert _count(text, "every customer") == 2  # the other facility's customer is not here
    assert _count(text, "bought in the period") == 2
    assert _count(text, "bought online") == 1
    assert _count(text, "bought at a kiosk") == 1
    assert _count(text, "bought and came") == 1
    assert _count(text, "bought, never came") == 1
    assert _count(text, "news mail allowed") == 2
    assert "example.jp" not in text  # counted, never listed
