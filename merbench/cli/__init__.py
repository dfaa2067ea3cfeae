"""The ``merbench`` command line: click commands (``app``), their bodies (``commands``), and the
terminal (``console``). Nothing in the core imports this package."""

from __future__ import annotations

from merbench.cli.app import main

__all__ = ["main"]
