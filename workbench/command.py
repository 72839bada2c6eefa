"""``kippu workbench``: the workbench's subcommand, registered in ``kippu.commands``.

Settings come from the environment (:class:`~workbench.settings.WorkbenchSettings`,
``docs/configuration.md``); options given here override them.
"""

from __future__ import annotations

import dataclasses

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5006, show_default=True, type=int)
@click.option("--core-url", default=None, help="Core service URL (default: KIPPU_BASE_URL).")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    envvar="KIPPU_WORKBENCH_ORIGINS",
    help="host:port browsers reach the workbench at, when not on loopback (repeatable; "
    "KIPPU_WORKBENCH_ORIGINS, space-separated).",
)
def workbench(host: str, port: int, core_url: str | None, origins: tuple[str, ...]) -> None:
    """Run the managers' Panel workbench."""
    from workbench.app import serve_workbench
    from workbench.settings import WorkbenchSettings

    settings = WorkbenchSettings.from_env()
    if core_url:
        settings = dataclasses.replace(settings, core_url=core_url)
    serve_workbench(settings, port=port, address=host, websocket_origin=list(origins) or None)
