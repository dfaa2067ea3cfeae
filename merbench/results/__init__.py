"""The results store, its queue of cells, and the frames read from it.

- ``schema``: tables, ``CellKey``, ``CellResult``; ``urls``: store URLs, redacted for display.
- ``store``: open, record and read a run; ``queue``: who holds a cell, heartbeats, re-queueing.
- ``summaries``: the ranked tables of a run; ``protocols``: split protocols side by side.
"""

HEARTBEAT_TIMEOUT_S = 60.0
"""Seconds without a heartbeat after which a running cell is re-queued (the run's default).

Here, in the package's face, so that reading the run options needs no SQLAlchemy."""
