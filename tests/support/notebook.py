"""Executing a notebook top to bottom with nbclient, as an analyst's Jupyter would."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.support import REPO_ROOT

ROOT = REPO_ROOT


def run_notebook(path: Path, env: dict[str, str]) -> str:
    """Run the notebook with ``env`` added to the kernel's environment; all text output."""
    saved = {key: os.environ.get(key) for key in [*env, "PYTHONPATH"]}
    # The kernel is a child process: it inherits the environment and must find the repo.
    os.environ.update(env)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), saved["PYTHONPATH"]]))
    try:
        notebook = nbformat.read(path, as_version=4)
        NotebookClient(
            notebook,
            timeout=120,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.append(str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)
