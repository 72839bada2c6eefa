"""``kippu kiosk``: the kiosk driver's subcommand, registered in ``kippu.commands``."""

from __future__ import annotations

import click


@click.command()
def kiosk() -> None:
    """Run the kiosk driver (touch UI, printer, terminal) on this kiosk PC."""
    from kiosk_driver.app import run_kiosk
    from kiosk_driver.config import KioskConfig

    run_kiosk(KioskConfig.from_env())
