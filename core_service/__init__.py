"""kippu core service: the Litestar application that owns the OLTP database.

Visitors' web checkout and My Page, the kiosk and gate APIs, staff APIs, the plugin
manager and the exporter all live here. Everything else (kiosk driver, workbench,
notebooks) talks to it over HTTP or reads its Parquet exports.
"""

__version__ = "0.1.0"
