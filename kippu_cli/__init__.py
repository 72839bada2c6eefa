"""The ``kippu`` command: one entry point that finds its subcommands in installed parts."""
