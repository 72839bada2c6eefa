"""The ``kippu`` command, composed from the parts installed on this machine.

Subcommands are found through the ``kippu.commands`` entry-point group: the core
registers ``serve``, ``db``, ``export``, ``gate`` and ``payments``, the kiosk driver
``kiosk``, the workbench ``workbench``, and this package ``demo``. A command is imported
only when it runs, so a kiosk PC installed with ``kippu[kiosk]`` runs ``kippu kiosk``
without the core's or the workbench's libraries; a command whose part is not installed
says which extra to install instead of failing with a traceback.
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points

import click

COMMANDS_GROUP = "kippu.commands"

#: Which install extra brings the part a command's module belongs to.
EXTRA_OF_PACKAGE = {
    "core_service": "core",
    "kiosk_driver": "kiosk",
    "workbench": "workbench",
    "kippu_cli": "all",
}


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}


class PartsGroup(click.Group):
    """A click group whose commands are the entry points of the installed parts."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_entry_points()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry_point = _entry_points().get(cmd_name)
        if entry_point is None:
            return None
        try:
            loaded = entry_point.load()
        except ModuleNotFoundError as exc:
            return _not_installed(cmd_name, entry_point, exc)
        if not isinstance(loaded, click.Command):
            raise click.ClickException(f"{entry_point.value} is not a click command")
        return loaded


@click.group(cls=PartsGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """kippu: ticketing and operations for leisure facilities.

    Every command reads its settings from KIPPU_* environment variables (see
    docs/configuration.md); options given here override them.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _not_installed(name: str, entry_point: EntryPoint, exc: ModuleNotFoundError) -> click.Command:
    """A stand-in for a command whose part is missing: listed in ``--help``, and when
    run it says which extra to install."""
    extra = EXTRA_OF_PACKAGE.get(entry_point.module.split(".")[0], "all")
    hint = f"pip install 'kippu[{extra}]'"

    def refuse() -> None:
        raise click.ClickException(
            f"`kippu {name}` needs {exc.name!r}, which is not installed here; "
            f"install its part with: {hint}"
        )

    return click.Command(
        name,
        callback=refuse,
        help=f"(not installed here: {hint})",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
