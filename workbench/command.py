"""``kippu workbench``: the workbench's subcommand, registered in ``kippu.commands``."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5006, show_default=True, type=int)
@click.option("--core-url", default=None, help="Core service URL (default: KIPPU_BASE_URL).")
def workbench(host: str, port: int, core_url: str | None) -> None:
    """Run the managers' Panel workbench."""
    from core_service.platform.settings import Settings
    from workbench.app import serve_workbench

    settings = Settings.from_env()
    serve_workbench(settings, port=port, address=host, core_url=core_url or settings.base_url)
