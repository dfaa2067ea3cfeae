"""The JSON text of the store's JSON columns: standard JSON on every database.

Python's ``json`` writes NaN and infinities as the bare tokens ``NaN`` and ``Infinity``, which
are not JSON (RFC 8259, section 6): SQLite stores them as text, but PostgreSQL's ``json`` type
rejects the whole value, so a cell whose metrics hold a NaN (a fold that can score no tag), or a
trial whose parameters do, could not be stored there. The store writes such a float as the
object ``{"$float": "nan"}`` (``"inf"``, ``"-inf"``) and reads it back as the float, on every
database, so a result reads back the same wherever it was stored. Stores written before keep
their bare tokens, which ``json.loads`` still reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

FLOAT_KEY = "$float"
"""The one key of the object that stands for a non-finite float."""


def dump_json(value: Any) -> str:
    """``value`` as standard JSON text; numpy values as Python's, non-finite floats tagged."""
    return json.dumps(_tagged(value), default=str, allow_nan=False)


def load_json(text: str | bytes) -> Any:
    """A value written by :func:`dump_json` (or by ``json.dumps``), non-finite floats restored."""
    return json.loads(text, object_hook=_untag)


def _tagged(value: Any) -> Any:
    """``value`` with Python's lists and dicts for numpy arrays, tuples and mappings and the
    tag for each non-finite float, in one pass."""
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        value = value.tolist()  # numpy scalars and arrays, as Python's numbers and lists
    if isinstance(value, float) and not math.isfinite(value):
        return {FLOAT_KEY: repr(value)}  # 'nan', 'inf', '-inf'
    if isinstance(value, Mapping):
        return {k: _tagged(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_tagged(v) for v in value]
    return value


def _untag(item: dict[str, Any]) -> Any:
    if len(item) == 1 and isinstance(item.get(FLOAT_KEY), str):
        try:
            return float(item[FLOAT_KEY])
        except ValueError:
            return item
    return item
