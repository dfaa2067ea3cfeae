"""The ``merbench`` command line: click commands (``app``, ``inspection``, ``publish``, their
options made from the run settings in ``options``, shared set-up and exit codes in ``runtime``),
their bodies (``commands``, ``publish_commands``), and the terminal (``console``). Nothing in the
core imports this package."""

from __future__ import annotations

from merbench.cli.app import main

__all__ = ["main"]
