"""Killing the kiosk driver process for real at each step of a sale loses nothing.

The unit fault tests raise SystemExit, which still runs ``finally`` blocks; here a child
process sells over real HTTP against a live core and dies by ``os._exit`` (no cleanup, as
with kill -9 or a power cut) at one step. A new kiosk on the same journal, terminal state
and printer then resumes: one charge, one order, every ticket on paper, and a ticket that
may already be on paper comes out again only with the 再発行 / REPRINT mark.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from core_service.app import create_app
from core_service.models import Order
from core_service.platform.database import make_engine
from core_service.platform.settings import Settings
from kiosk_driver.config import KioskConfig
from kiosk_driver.journal import Journal
from kiosk_driver.runtime import build_kiosk
from kiosk_driver.sale_state import SaleState
from kiosk_driver.terminal import SimulatedTerminal
from tests.conftest import seed_demo
from tests.support import REPO_ROOT
from tests.support.live_server import serve

REPRINT = "再発行".encode("cp932")
CHILD = r"""
import os, sys
from pathlib import Path
from kiosk_driver.config import KioskConfig
from kippu_contract.v1.kiosk import OrderLineIn
from kiosk_driver.journal import Journal
from kiosk_driver.runtime import build_kiosk
from kiosk_driver.terminal import SimulatedTerminal

point, url, token, tmp, category = sys.argv[1:]
tmp = Path(tmp)
config = KioskConfig(core_url=url, token=token, token_file=tmp / "token",
                     journal_path=tmp / "journal.sqlite3", printer=f"file:{tmp / 'paper-1.bin'}")
terminal = SimulatedTerminal(state_path=tmp / "terminal.json")
kiosk = build_kiosk(config, terminal=terminal, journal=Journal(tmp / "journal.sqlite3"))

def die(*args, **kwargs):
    os._exit(137)

if point == "before_charge":
    terminal.charge = die
elif point == "after_approval":
    real = terminal.charge
    terminal.charge = lambda *a: (real(*a), die())
elif point == "after_paid":
    kiosk._confirm = die
elif point == "after_confirm":
    kiosk._print = die
elif point == "mid_print":
    kiosk.journal.ticket_print_done = die
kiosk.sell([OrderLineIn(int(category), 2)], "card", {"consent_waiver": True})
"""


async def _orders(settings: Settings) -> int:
    engine = make_engine(settings)
    async with engine.connect() as connection:
        count = await connection.scalar(sa.select(sa.func.count()).select_from(Order))
    await engine.dispose()
    return int(count or 0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "point", ["before_charge", "after_approval", "after_paid", "after_confirm", "mid_print"]
)
def test_killed_driver_resumes_without_loss_or_double_charge(
    point: str, sqlite_settings: Settings, tmp_path: Path
) -> None:
    demo = asyncio.run(seed_demo(sqlite_settings))
    with serve(create_app(sqlite_settings, background=False)) as url:
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                point,
                url,
                demo.kiosk_token,
                str(tmp_path),
                str(demo.adult_category_id),
            ],
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            capture_output=True,
            timeout=120,
        )
        assert child.returncode == 137, child.stderr.decode()[-2000:]

        config = KioskConfig(
            core_url=url,
            token=demo.kiosk_token,
            token_file=tmp_path / "token",
            journal_path=tmp_path / "journal.sqlite3",
            printer=f"file:{tmp_path / 'paper-2.bin'}",
        )
        restarted = build_kiosk(
            config,
            terminal=SimulatedTerminal(state_path=tmp_path / "terminal.json"),
            journal=Journal(tmp_path / "journal.sqlite3"),
        )
        restarted.resume()
        restarted.resume()  # a second pass changes nothing
        restarted.printer.close()
        [record] = restarted.journal.recent()
        charged = SimulatedTerminal(state_path=tmp_path / "terminal.json").approved
        orders = asyncio.run(_orders(sqlite_settings))

    before = (tmp_path / "paper-1.bin").read_bytes() if (tmp_path / "paper-1.bin").exists() else b""
    after = (tmp_path / "paper-2.bin").read_bytes() if (tmp_path / "paper-2.bin").exists() else b""
    if point == "before_charge":
        assert record.state == SaleState.FAILED and charged == {} and orders == 0
        return
    assert record.state == SaleState.PRINTED
    assert (len(charged), orders) == (1, 1)  # one charge, one order
    tokens = [t["qr_token"].encode() for t in record.confirmation["tickets"]]
    for token in tokens:
        assert token in before + after  # every ticket reached paper
        if token in before and token in after:
            assert REPRINT in after  # a second copy is always marked
