"""Run settings: one record of what ``merbench run`` (or ``merbench.run()``) was asked to do.

The command line, the Python API, the stored run and every worker rebuilding a cell read the same
``RunSettings``; ``tests/pipeline/test_settings.py`` fails when the CLI's options and this record
drift. The settings that decide a run's numbers (``IDENTITY``) are stored with the run: a resumed
run, or a worker on another machine, uses exactly those.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from merbench.errors import ConfigError
from merbench.results.queue import HEARTBEAT_TIMEOUT_S

IDENTITY = ("budget", "budget_overrides", "seed", "top_k", "precision", "augment_mode", "split")
"""The settings stored with a run that a resumed run must repeat (they change its numbers)."""


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """What a run was asked to do. Defaults are the command line's."""

    models: tuple[str, ...] = ("all",)
    """``all``, model names (their default front-ends) or candidates like ``cnn2d@mel``."""
    datasets: tuple[str, ...] = ()
    """Dataset names from ``datasets.toml`` (default: every enabled one)."""
    tasks: tuple[str, ...] = ()
    """``all`` or task names (default: each dataset's first task)."""
    split: tuple[str, ...] = ()
    """Split protocols to run every dataset under, side by side (``grouped``, ``random``,
    ``official``); default: each dataset's ``split`` in ``datasets.toml``."""
    budget: str = "default"
    """A built-in budget (``smoke``, ``default``, ``full``) or one declared in ``datasets.toml``."""
    budget_overrides: str = ""
    """Budget values to override, e.g. ``trials=10,epochs=20`` (``--set``)."""
    seed: int = 0
    config: Path | None = None
    """The ``datasets.toml`` to read (default: ``./datasets.toml``, else the packaged one)."""
    name: str | None = None
    """Run name (default: the datasets' names joined by ``+``)."""
    out: Path | None = None
    """Run directory for results and logs (default: ``runs/<name>``)."""
    leaderboard: Path | None = None
    """Where to write the site (default: ``leaderboards/<name>``, or ``<out>/leaderboard``)."""
    render: bool = True
    """Render the leaderboard when the run ends."""
    storage: str | None = None
    """SQLAlchemy URL of the results store (default: SQLite in the run directory)."""
    enqueue_only: bool = False
    """Store the folds and pending cells, run none (``merbench worker`` processes run them)."""
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT_S
    """Seconds without a heartbeat after which another worker's running cell is re-queued."""
    top_k: int | None = None
    """Also report top-k accuracy of classification tasks."""
    precision: str = "fp32"
    """``fp32``, or ``bf16`` autocast for torch models."""
    augment: tuple[str, ...] = ()
    """Augmentation policies (``specaugment``, ``gain+mixup``) added beside plain candidates."""
    augment_mode: str = "auto"
    """``auto`` (each augmentation's own mode), ``on-the-fly`` or ``pre-rendered``."""
    jobs: int | str = "auto"
    """Processes on this machine working through the cells at once, or ``auto``."""
    fresh: bool = False
    """Delete the run directory's results and start over."""

    def __post_init__(self) -> None:
        if self.seed < 0 or self.seed >= 2**32:
            raise ConfigError(f"--seed {self.seed}: give a whole number from 0 to 4294967295.")

    def run_name(self, datasets: tuple[str, ...]) -> str:
        """The run's name: as given, else its datasets' names joined by ``+``."""
        return self.name or "+".join(datasets)

    def run_dir(self, name: str) -> Path:
        """Where the run's store and log live."""
        return self.out or Path("runs") / name

    def site_dir(self, name: str) -> Path:
        """Where the run's leaderboard goes: as given, else beside the run it belongs to."""
        if self.leaderboard is not None:
            return self.leaderboard
        return self.out / "leaderboard" if self.out is not None else Path("leaderboards") / name

    def identity(self) -> dict[str, Any]:
        """The settings stored with the run and checked when it resumes.

        ``augment_mode``, ``split`` and ``budget_overrides`` are left out at their defaults, so
        runs made before they existed resume.
        """
        values = {k: v for k, v in asdict(self).items() if k in IDENTITY}
        if values["augment_mode"] == "auto":
            del values["augment_mode"]
        if not values["budget_overrides"]:
            del values["budget_overrides"]
        if values["split"]:
            values["split"] = list(values["split"])  # as the store gives it back
        else:
            del values["split"]
        return values

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any], **overrides: Any) -> RunSettings:
        """Rebuild the settings of a stored run (unknown keys of other versions are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in stored.items() if k in known}
        for key in ("models", "datasets", "tasks", "augment", "split"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**(values | overrides))


def check_folder(path: Path, option: str) -> None:
    """Refuse a folder that cannot be made or written in, before anything is written.

    The nearest existing folder of ``path`` must be a folder this process may write in: a
    path under a regular file, or in a read-only or someone else's folder, is refused.

    Raises:
        ConfigError: naming the path, what is wrong with it and the option to change.
    """
    nearest = Path(os.path.abspath(path))
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        what = f"'{nearest}' is a file" if nearest != Path(os.path.abspath(path)) else "a file"
        raise ConfigError(
            f"{option} {path}: cannot make this folder: {what}, not a folder. "
            f"Pass {option} a folder you can write to."
        )
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{option} {path}: cannot write in '{nearest}' (read-only or not yours). "
            f"Pass {option} a folder you can write to."
        )
