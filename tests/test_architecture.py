"""The package split of docs/architecture.md: every part declares the libraries it imports.

import-linter (`make test` runs `lint-imports`) holds the import rules between kippu's own
packages; these tests hold the install extras to the code, so that `pip install
'kippu[kiosk]'` is enough for a kiosk PC and pulls in nothing a kiosk does not import.
"""

from __future__ import annotations

import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = (
    "kippu_contract",
    "kippu_cli",
    "core_service",
    "kippu_plugins",
    "kiosk_driver",
    "workbench",
)
#: The extras (besides the base dependencies) each part runs with.
EXTRAS_OF_PART = {
    "kippu_contract": (),
    "core_service": ("core",),
    "kippu_plugins": ("core",),
    "kiosk_driver": ("kiosk",),
    "workbench": ("workbench",),
}
#: What the contract may use: it is installed with every part.
CONTRACT_LIBRARIES = {"msgspec", "cryptography", "pyarrow"}


@cache
def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PARTS, include_external_packages=True, cache_dir=None)


def _external_imports(*modules: str) -> set[str]:
    graph = _graph()
    found: set[str] = set()
    for root in modules:
        for module in {root} | graph.find_descendants(root):
            for imported in graph.find_modules_directly_imported_by(module):
                top = imported.split(".")[0]
                if top not in sys.stdlib_module_names and top not in PARTS:
                    found.add(top)
    return found


def _distribution_name(requirement: str) -> str:
    name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(*extras: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return {_distribution_name(r) for r in requirements}


def _distributions(import_name: str) -> set[str]:
    return {_distribution_name(d) for d in packages_distributions().get(import_name, [])}


@pytest.mark.parametrize("part", sorted(EXTRAS_OF_PART))
def test_every_library_a_part_imports_is_declared_in_its_extra(part: str) -> None:
    declared = _declared(*EXTRAS_OF_PART[part])
    undeclared = {
        name: sorted(_distributions(name))
        for name in _external_imports(part)
        if not _distributions(name) & declared
    }
    assert undeclared == {}, f"add to the extra(s) {EXTRAS_OF_PART[part]} of pyproject.toml"


def test_the_contract_uses_only_msgspec_cryptography_and_pyarrow() -> None:
    assert _external_imports("kippu_contract") <= CONTRACT_LIBRARIES


def test_the_kippu_command_itself_needs_only_the_base_install() -> None:
    # Its subcommands are imported when they run, from the part that brings them.
    graph = _graph()
    imported = {m.split(".")[0] for m in graph.find_modules_directly_imported_by("kippu_cli.main")}
    assert imported - set(sys.stdlib_module_names) <= {"click"}


def test_a_kiosk_pc_installs_no_analytics_database_or_pdf_library() -> None:
    kiosk = _declared("kiosk")
    assert not kiosk & {"panel", "holoviews", "bokeh", "duckdb", "pandas", "asyncpg", "reportlab"}
    assert not kiosk & {"sqlalchemy", "alembic"}
