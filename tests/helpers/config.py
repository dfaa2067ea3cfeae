"""datasets.toml parsed against a fixed set of dataset records, with exact error messages."""

from __future__ import annotations

import re

import pytest

from merbench.data.config import Config, parse_config
from merbench.errors import ConfigError
from merbench.plugin.specs import DatasetSpec


def _load(root, **options):
    return None


SPECS = {
    "synth": DatasetSpec(
        name="synth",
        load=_load,
        tasks=("av-regression",),
        requires_path=False,
        options={
            "n_clips": 240,
            "noise": 0.5,
            "stereo": False,
            "keys": ("C", "G"),
            "extra": None,
        },
    ),
    "pmemo": DatasetSpec(name="pmemo", load=_load, tasks=("av-regression",)),
    "deam": DatasetSpec(
        name="deam", load=_load, tasks=("av-regression",), homepage="https://example.org/deam"
    ),
    "folder": DatasetSpec(
        name="folder",
        load=_load,
        tasks=("av-regression",),
        options={"labels": "labels.csv", "group_column": "artist"},
    ),
}
"""The dataset records the tests check datasets.toml against, by name."""


def parse(text: str, **kwargs) -> Config:
    """Parse ``text`` against ``SPECS``, in an empty environment unless ``environ`` is given."""
    kwargs.setdefault("environ", {})
    return parse_config(text, SPECS, **kwargs)


def fails(text: str, message: str, **kwargs) -> None:
    """Assert that parsing ``text`` raises exactly ``message``."""
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        parse(text, **kwargs)
