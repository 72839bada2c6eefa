"""The Panel workbench for managers: live attendance over the Parquet exports.

- ``workbench.data_access``: DuckDB views and queries over the exports (also for notebooks);
- ``workbench.attendance``: the attendance state, a ``param.Parameterized`` without Panel;
- ``workbench.app``: the Panel pages, the staff login and ``serve_workbench``;
- ``workbench.core_client``: the core API client (staff login).

Importing this package imports no Panel, so notebooks and tests stay light.
"""
