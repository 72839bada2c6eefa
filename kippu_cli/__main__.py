"""``python -m kippu_cli``: the ``kippu`` command without its console script."""

from kippu_cli.main import main

main()
