"""Text in the Markdown files merbench writes: a value from outside renders as itself.

The methods card (``merbench.leaderboard.methods``) and the model card of an export
(``merbench.exchange.card``) put names from plugins, runs and datasets into Markdown that a
browser or the Hugging Face Hub renders. ``text`` makes such a value plain text of one
line: HTML cannot open, Markdown punctuation cannot start a link, an emphasis or a table cell,
and a line break cannot end a table row. ``code`` puts a value in an inline code span,
where Markdown reads nothing and nothing needs escaping, only a fence longer than any run of
backticks inside.
"""

from __future__ import annotations

import re
from typing import Any

_PUNCTUATION = re.compile(r"([\\`*_\[\]|~$])")
"""Characters that start Markdown syntax inside a line (links need ``[``, so ``(`` is safe)."""
_BACKTICKS = re.compile(r"`+")


def text(value: Any) -> str:
    """``value`` as one line of Markdown text that renders as itself.

    ``<``, ``>`` and ``&`` become entities; Markdown's punctuation gets a backslash; line breaks
    become spaces, so a value cannot end a table row.
    """
    escaped = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _PUNCTUATION.sub(r"\\\1", " ".join(escaped.split()))


def code(value: Any) -> str:
    """``value`` as an inline code span of one line that shows it as it is.

    The fence is one backtick longer than the longest run of backticks in the value, and a value
    that starts or ends with a backtick is padded with a space (CommonMark strips one).
    """
    line = " ".join(str(value).split())
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(line)), default=0) + 1)
    padded = f" {line} " if line.startswith("`") or line.endswith("`") else line
    return f"{fence}{padded}{fence}"
