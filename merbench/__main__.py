"""``python -m merbench``: the same as the ``merbench`` command."""

from merbench.cli import main

main()
