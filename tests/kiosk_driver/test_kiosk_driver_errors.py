"""The exception trees drawn in the kiosk driver's docstrings are its real class tree."""

from __future__ import annotations

import inspect
import re
from types import ModuleType

import pytest

from kiosk_driver import core_client, errors
from kiosk_driver.errors import KioskError


def _drawn_edges(module: ModuleType) -> dict[str, str]:
    """(class → parent) as drawn in the ``::`` block of the module's docstring."""
    doc = module.__doc__ or ""
    block = doc.split("::\n", 1)[1]
    edges: dict[str, str] = {}
    path: list[str] = []
    root_column: int | None = None
    for line in block.splitlines():
        if root_column is None:
            found = re.match(r"^(\s+)(KioskError)\b", line)
            if found:
                root_column, path = len(found.group(1)), ["KioskError"]
            continue
        branch = re.search(r"[├└]── (\w+)", line)
        if not branch:
            continue  # a description's second line
        depth = (branch.start(1) - root_column) // 4
        path = path[:depth]
        edges[branch.group(1)] = path[-1]
        path.append(branch.group(1))
    return edges


def _real_edges() -> dict[str, str]:
    classes = [
        value
        for value in vars(errors).values()
        if inspect.isclass(value) and issubclass(value, KioskError) and value is not KioskError
    ]
    return {cls.__name__: cls.__bases__[0].__name__ for cls in classes}


def test_errors_docstring_draws_every_class_under_its_parent() -> None:
    assert _drawn_edges(errors) == _real_edges()


@pytest.mark.parametrize("module", [core_client], ids=lambda m: m.__name__)
def test_partial_drawings_agree_with_the_tree(module: ModuleType) -> None:
    real = _real_edges()
    drawn = _drawn_edges(module)
    assert drawn and {name: real.get(name) for name in drawn} == drawn
