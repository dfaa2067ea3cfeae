"""Errors the core raises: every message reads "where: what. fix."."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MerbenchError(Exception):
    """Base class of every error merbench reports to a user (never with a traceback)."""


class ConfigError(MerbenchError):
    """A bad ``datasets.toml``, budget, option or command-line value."""


class DatasetError(MerbenchError):
    """Missing or corrupt audio, wrong columns, NaN labels: a problem with a dataset copy."""


class AudioFileError(DatasetError):
    """An audio file that cannot be read.

    ``str()`` is the whole message, with the fix for a dataset's copy; ``line`` is
    "file: problem" alone, for commands that read files outside any dataset (``predict``).
    """

    def __init__(self, message: str, line: str | None = None) -> None:
        super().__init__(message)
        self.line = line or message


class PluginError(MerbenchError):
    """A plugin that fails to import, targets another API, yields a bad record or conflicts."""


class CellError(MerbenchError):
    """A failure inside one cell (dataset x task x candidate x fold)."""


class RunError(MerbenchError):
    """A run that cannot go on, such as a run directory made with other settings."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def end_sentence(text: str) -> str:
    """Return ``text`` ending in exactly one full stop, question or exclamation mark.

    A reason may already end in ``did_you_mean``'s question (``"... Did you mean 'x'?"``) or in
    a full stop; callers that build a sentence around a reason use this instead of adding ``.``.
    """
    text = text.rstrip()
    return text if text.endswith((".", "?", "!")) else f"{text}."
