"""Provenance: what produced a run's numbers (versions, plugins, machine, settings).

Provenance is published with the leaderboard, so it names no absolute local path: a file is
shown relative to the working folder when it lies inside it, else by its name alone
(``portable_path``); ``portable_text`` does the same for the paths in a message. The run's
own log keeps the absolute paths.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from merbench.data.config import Config
from merbench.data.decoding import RESAMPLE_QUALITY
from merbench.evaluation.budgets import Budget
from merbench.plugin.registry import Registry
from merbench.results.urls import redact
from merbench.train.allocator import allocator_setting

# soundfile and soxr decode and resample the audio (``provenance["audio"]``).
LIBRARIES = (
    "torch",
    "torchaudio",
    "nnAudio",
    "numpy",
    "scikit-learn",
    "optuna",
    "pandas",
    "soundfile",
    "soxr",
)


def collect_provenance(
    registry: Registry, config: Config, seed: int, budget: Budget, *, uses_torch: bool = True
) -> dict[str, Any]:
    """Describe the software, plugins, configuration and machine of a run.

    The device is looked up through torch only when a candidate trains a torch model.
    """
    from merbench.version import __version__

    return {
        "merbench": __version__,
        "git_sha": git_sha(Path(__file__).resolve().parent),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        "seed": seed,
        "budget": {k: getattr(budget, k) for k in budget.__dataclass_fields__},
        "config": {
            "path": portable_path(config.source) if config.source else None,
            "sha256": _file_hash(config.source),
        },
        "plugins": [
            {
                "name": p.name,
                "distribution": p.distribution,
                "version": p.version,
                "api": p.api,
                "first_party": p.first_party,
                "records": [f"{kind}:{name}" for kind, name in p.records],
            }
            for p in registry.plugins
        ],
        "plugin_failures": [f.message for f in registry.failures],
        "datasets": _datasets(registry, config),
        "augmentations": {
            a.name: {"stage": a.stage, "labels": a.labels, "summary": a.summary}
            for a in registry.augmentations.values()
        },
        "audio": {"decoder": "soundfile", "resampler": "soxr", "quality": RESAMPLE_QUALITY},
        "allocator": allocator_setting(),
        "device": _device() if uses_torch else "cpu",
        # Never a password: a store URL on the command line is shown as user:***@host.
        "command": redact(" ".join([Path(sys.argv[0]).name, *map(_portable_arg, sys.argv[1:])])),
    }


def portable_path(path: Path | str, *, base: Path | None = None) -> str:
    """Write a path fit to publish.

    Returns:
        The path relative to ``base`` (default: the working folder) when inside it, else the
        file's name alone; a relative path as it is.
    """
    if not os.path.isabs(path):
        return str(path)
    folder = Path(os.path.abspath(base if base is not None else Path.cwd()))
    absolute = Path(os.path.abspath(path))
    if absolute.is_relative_to(folder):
        return str(absolute.relative_to(folder))
    return absolute.name


def portable_text(text: str, root: Path) -> str:
    """Write every path under the folder ``root`` in ``text`` relative to it.

    For a skipped track's reason naming its audio file; ``root`` itself becomes ``.``.
    """
    for folder in dict.fromkeys([str(root), os.path.abspath(root), str(Path(root).resolve())]):
        text = text.replace(folder.rstrip(os.sep) + os.sep, "").replace(folder, ".")
    return text


def _portable_arg(arg: str) -> str:
    """A command-line argument with an absolute path in it (``/x``, ``--out=/x``) made portable."""
    option, equals, value = arg.partition("=") if arg.startswith("-") else ("", "", arg)
    if os.path.isabs(value):
        return f"{option}{equals}{portable_path(value)}"
    return arg


def _datasets(registry: Registry, config: Config) -> dict[str, dict[str, Any]]:
    """What each dataset's plugin says of it: version, citation, licence, scale, literature."""
    out: dict[str, dict[str, Any]] = {}
    for dataset in config.datasets:
        spec = registry.datasets.get(dataset.plugin)
        if spec is None:
            continue
        scale = spec.label_scale
        out[dataset.name] = {
            "plugin": spec.name,
            "version": spec.version,
            "summary": spec.summary,
            "citation": spec.citation,
            "license": spec.license,
            "homepage": spec.homepage,
            "label_scale": {"low": scale.low, "high": scale.high} if scale else None,
            "split": dataset.split,
            "literature": [
                {
                    "task": r.task,
                    "metric": r.metric,
                    "score": r.score,
                    "protocol": r.protocol,
                    "model": r.model,
                    "source": r.source,
                    "note": r.note,
                }
                for r in spec.literature
            ],
        }
    return out


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    # The torch threads per cell are a run setting (``threads`` in the run's settings).
    return f"cpu ({os.cpu_count()} cores)"


def git_sha(folder: Path) -> str | None:
    """The commit of the git checkout ``folder`` is in, or ``None``."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _file_hash(path: Path | None) -> str | None:
    if path is None or not path.exists():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()
