"""The Panel workbench for managers: live attendance over the Parquet exports.

A client of the core, like a kiosk: it reads the exports the core writes and calls the
core API over HTTP, sharing only ``kippu_contract`` with it (never ``core_service``).

- ``workbench.settings``: ``WorkbenchSettings``, read once from ``KIPPU_*`` variables;
- ``workbench.data_access``: DuckDB views and queries over the exports (also for notebooks);
- ``workbench.attendance``, ``sales``, ``mailing``, ...: the pages' states,
  ``param.Parameterized`` classes without Panel;
- ``workbench.app``: the staff login and ``serve_workbench``; ``views_*``: the pages;
- ``workbench.core_client``: the core API client (staff login and actions).

Importing this package imports no Panel, so notebooks and tests stay light.
"""
