"""The plugin system: hook specifications, the plugin host and the API module for plugins.

Plugins import only :mod:`core_service.plugins.api`; the core calls hooks through
:class:`core_service.plugins.host.FacilityPlugins`.
"""
