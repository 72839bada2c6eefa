"""kippu's built-in plugins.

Each module here is an ordinary pluggy plugin, registered through the same ``kippu``
entry-point group as third-party plugins and enabled per facility.
"""
