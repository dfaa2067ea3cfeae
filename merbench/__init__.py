"""merbench: a plugin-based benchmark harness for Music Emotion Recognition.

The public API for plugin authors and notebooks: the hook marker, the spec records, the errors,
and (imported lazily so that ``import merbench`` stays light) ``run`` and ``load_results``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from merbench.errors import (
    CellError,
    ConfigError,
    DatasetError,
    MerbenchError,
    PluginError,
    RunError,
)
from merbench.hookspecs import PLUGIN_API, hookimpl
from merbench.specs import (
    AugmentationSpec,
    DatasetSpec,
    FrontEndSpec,
    InputKind,
    InputShape,
    LabelScale,
    ModelSpec,
    Provenance,
    PublishedResult,
)
from merbench.version import __version__

if TYPE_CHECKING:
    from merbench.api import load_results, run

__all__ = [
    "PLUGIN_API",
    "AugmentationSpec",
    "CellError",
    "ConfigError",
    "DatasetError",
    "DatasetSpec",
    "FrontEndSpec",
    "InputKind",
    "InputShape",
    "LabelScale",
    "MerbenchError",
    "ModelSpec",
    "PluginError",
    "Provenance",
    "PublishedResult",
    "RunError",
    "__version__",
    "hookimpl",
    "load_results",
    "run",
]


def __getattr__(name: str) -> Any:
    if name in ("run", "load_results"):
        from merbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'merbench' has no attribute {name!r}")
