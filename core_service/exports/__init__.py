"""Exports of the OLTP database to Parquet for the workbench, notebooks and analysts.

``run_export(settings)`` is the entry point (``kippu export``); ``follow_exports`` repeats it
(``kippu export --follow``); the `export` job (:mod:`core_service.jobs`) runs it from the core's
background work every ``settings.export_interval_seconds``. The schema is in :mod:`kippu_contract.export_schema` and in
``docs/exports.md``.
"""

from core_service.exports.exporter import ExportReport, export_async, follow_exports, run_export
from kippu_contract.export_schema import SCHEMA_VERSION, TABLES

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "ExportReport",
    "export_async",
    "follow_exports",
    "run_export",
]
