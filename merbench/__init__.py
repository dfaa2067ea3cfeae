"""merbench: a plugin-based benchmark harness for Music Emotion Recognition.

The public API for plugin authors and notebooks: the hook marker, the spec records, the errors,
and (imported lazily so that ``import merbench`` stays light) ``run`` and ``load_results`` with
the ``RunResult`` they return, ``load_model`` (an exported model's ``predict``), and
the two helpers dataset plugins use: ``probe_audio`` (an audio file's header) and
``derive_classes`` (classes of a classification task from arousal and valence).
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
from merbench.plugin.hookspecs import PLUGIN_API, hookimpl
from merbench.plugin.specs import (
    AugmentationSpec,
    DatasetSpec,
    DataSource,
    FrontEndSpec,
    InputKind,
    InputShape,
    LabelScale,
    ModelSpec,
    Provenance,
    PublishedResult,
    SourceFile,
)
from merbench.version import __version__

if TYPE_CHECKING:
    from merbench.api import ExportedModel, RunResult, load_model, load_results, run
    from merbench.data.decoding import AudioInfo
    from merbench.data.decoding import probe as probe_audio
    from merbench.evaluation.metrics import derive_classes

__all__ = [
    "PLUGIN_API",
    "AudioInfo",
    "AugmentationSpec",
    "CellError",
    "ConfigError",
    "DataSource",
    "DatasetError",
    "DatasetSpec",
    "ExportedModel",
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
    "RunResult",
    "SourceFile",
    "__version__",
    "derive_classes",
    "hookimpl",
    "load_model",
    "load_results",
    "probe_audio",
    "run",
]

_LAZY = {
    "run": ("merbench.api", "run"),
    "load_results": ("merbench.api", "load_results"),
    "RunResult": ("merbench.api", "RunResult"),
    "load_model": ("merbench.api", "load_model"),
    "ExportedModel": ("merbench.api", "ExportedModel"),
    "probe_audio": ("merbench.data.decoding", "probe"),
    "AudioInfo": ("merbench.data.decoding", "AudioInfo"),
    "derive_classes": ("merbench.evaluation.metrics", "derive_classes"),
}
"""Public names whose modules import numpy, pandas or soundfile: loaded on first use."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'merbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
