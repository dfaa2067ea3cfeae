"""The results store, its queue of cells, and the frames read from it.

- ``schema``: tables, ``CellKey``, ``CellResult``; ``urls``: store URLs, redacted for display.
- ``store``: open, record and read a run; ``queue``: who holds a cell, heartbeats, re-queueing.
- ``summaries``: the ranked tables of a run; ``protocols``: split protocols side by side.
"""
