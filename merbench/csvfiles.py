"""CSV files that spreadsheets open safely: every CSV merbench writes goes through ``write_csv``.

Names in these files come from outside: external entries (``merbench score --name``), audio
file names (``merbench predict``), plugin and track names. A spreadsheet runs a cell that starts
with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return before one) as a formula, so
such a text cell is written with a single quote in front (OWASP's advice against CSV
injection), and every text field is quoted. Numbers stay numbers: only text cells change, so
``-0.12`` in a numeric column is written as is. A text cell that starts with a quote gets one
more, so ``restore`` gives back exactly what was written (``merbench score`` reads the track ids
of ``merbench folds``'s file through it).
"""

from __future__ import annotations

import csv
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula."""
QUOTE = "'"
_ESCAPED_STARTS = (*FORMULA_STARTS, QUOTE)


def neutralise(value: Any) -> Any:
    """Return a text cell a spreadsheet shows as text: ``'=1+1`` for ``=1+1``; others as given."""
    if isinstance(value, str) and value.startswith(_ESCAPED_STARTS):
        return QUOTE + value
    return value


def restore(value: Any) -> Any:
    """Undo ``neutralise``: the text that was written, for a cell read back from such a file."""
    if isinstance(value, str) and value.startswith(QUOTE) and value[1:].startswith(_ESCAPED_STARTS):
        return value[1:]
    return value


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` (without its index) to ``path``, text cells neutralised and quoted.

    Raises:
        OSError: the file cannot be written (the caller names the option that chose it).
    """
    safe = frame.rename(columns=_neutralise_label)
    for column in range(safe.shape[1]):
        values = safe.iloc[:, column]
        if values.dtype == object or str(values.dtype) in ("string", "str"):
            texts = values.map(neutralise, na_action="ignore").astype(object)
            safe.isetitem(column, texts.to_numpy())
    safe.to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)


def _neutralise_label(label: Hashable) -> Hashable:
    return QUOTE + label if isinstance(label, str) and label.startswith(_ESCAPED_STARTS) else label
