"""Helpers for testing merbench and its plugins: the contract kit, and seeded tiny audio and
labelled tone datasets.

Plugin authors run the contract kit on their plugin module (``check_plugin(module)``) and can
build small fixtures with ``tone`` and ``write_tone_dataset`` in their own tests, without
downloads. The code lives in ``audio`` (generated audio), ``checks`` (the kit and its checks of
front-ends, augmentations and datasets) and ``contract`` (its checks of models).
"""

from __future__ import annotations

from merbench.testing.audio import A4, tone, write_tone_dataset
from merbench.testing.checks import Check, ContractError, check_plugin, run_checks
from merbench.testing.contract import EXAMPLE_SHAPES, RESERVED_KEYS, example_shapes

__all__ = [
    "A4",
    "EXAMPLE_SHAPES",
    "RESERVED_KEYS",
    "Check",
    "ContractError",
    "check_plugin",
    "example_shapes",
    "run_checks",
    "tone",
    "write_tone_dataset",
]
