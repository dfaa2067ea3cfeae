"""Run settings: one record of what ``merbench run`` (or ``merbench.run()``) was asked to do.

Each run option is declared once, as a ``RunSettings`` field with its ``RunOption``: the
command line's options are made from these declarations (``merbench.cli.options``), and
``merbench.run()`` builds its settings with ``RunSettings.from_options``;
``tests/pipeline/test_settings.py`` fails when ``merbench.run()``'s keywords and the fields drift.
The settings that decide a run's numbers (``IDENTITY``) are stored with the run: a resumed
run, or a worker on another machine, uses exactly those.

Importing this module imports neither click, SQLAlchemy nor torch: ``merbench --help`` reads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from merbench.data.config_checks import EXECUTORS, suggest_name
from merbench.errors import ConfigError
from merbench.evaluation.budgets import BUDGETS
from merbench.plugin.specs import NAME_PATTERN, RUN_AUGMENT_MODES, TASKS
from merbench.plugin.torch_space import PRECISIONS
from merbench.results import HEARTBEAT_TIMEOUT_S

MAX_RUN_NAME = 200
"""The longest run name (the store's ``runs.name`` column)."""
TRACKERS = ("mlflow",)
"""The experiment trackers ``--track`` logs to (``merbench.pipeline.tracking``)."""
IDENTITY = ("budget", "budget_overrides", "seed", "top_k", "precision", "augment_mode", "split")
"""The settings stored with a run that a resumed run must repeat (they change its numbers)."""

OptionKind = Literal["text", "int", "float", "path", "folder"]
"""What an option's value is: ``path`` and ``folder`` become a ``Path`` (a folder: not a file)."""


@dataclass(frozen=True, kw_only=True)
class RunOption:
    """How one run setting is given on the command line and to ``merbench.run()``.

    A field whose default is a tuple is a list option (repeated or comma-separated); one whose
    default is a bool is a flag, which switches it to the other value.
    """

    help: str
    """The option's ``--help`` text, also its documentation."""
    flag: str = ""
    """The long option (default: ``--`` and the field's name with ``-`` for ``_``)."""
    short: str = ""
    """A one-letter alias, e.g. ``-m``."""
    kind: OptionKind = "text"
    """What the value is (``OptionKind``)."""
    choices: tuple[str, ...] = ()
    """The values allowed, if only some are."""
    minimum: float | None = None
    """The smallest value allowed of an ``int`` or ``float``."""
    metavar: str | None = None
    """The value's name in ``--help`` (default: its kind's)."""
    show_default: bool = False
    """Show the default in ``--help``."""
    envvar: str | None = None
    """An environment variable read when the option is not given."""
    name: str = ""
    """The field's name (filled in by ``run_options``)."""
    default: Any = None
    """The field's default (filled in by ``run_options``)."""

    def __post_init__(self) -> None:
        if self.kind not in get_args(OptionKind):
            raise ValueError(f"{self.kind!r} is not a kind of option: {get_args(OptionKind)}")

    @property
    def flags(self) -> tuple[str, ...]:
        """The option's spellings on the command line, the long one first."""
        long = self.flag or "--" + self.name.replace("_", "-")
        return (long, self.short) if self.short else (long,)

    @property
    def multiple(self) -> bool:
        """Whether the option takes a list (repeated or comma-separated)."""
        return isinstance(self.default, tuple)

    @property
    def is_flag(self) -> bool:
        """Whether the option is a flag that takes no value."""
        return isinstance(self.default, bool)

    def normalise(self, value: Any) -> Any:
        """Turn a value as given (by the command line or ``merbench.run()``) into the field's."""
        if self.multiple:
            return split_values((value,) if isinstance(value, str) else value)
        if self.kind in ("path", "folder") and value is not None:
            return Path(value)
        return value


def option(help: str, **how: Any) -> dict[str, RunOption]:
    """Make a ``RunSettings`` field's metadata: its run option (``how``: ``RunOption``'s fields)."""
    return {"option": RunOption(help=help, **how)}


def split_values(values: Iterable[str]) -> tuple[str, ...]:
    """Accept repeated options and comma-separated lists alike."""
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """What a run was asked to do; each field is one option, in ``merbench run --help`` order."""

    models: tuple[str, ...] = field(
        default=("all",),
        metadata=option(
            short="-m",
            show_default=True,
            help="'all', model names (their default front-ends) or candidates like "
            "'cnn2d@mel'; comma-separated or repeated.",
        ),
    )
    baselines: bool = field(
        default=True,
        metadata=option(
            flag="--no-baselines",
            help="Do not add the baselines (mean or majority for each task, and artist-prior) "
            "beside the candidates asked for.",
        ),
    )
    datasets: tuple[str, ...] = field(
        default=(),
        metadata=option(
            short="-d", help="Dataset names from datasets.toml (default: every enabled one)."
        ),
    )
    tasks: tuple[str, ...] = field(
        default=(),
        metadata=option(
            short="-t",
            help=f"'all' or tasks: {', '.join(TASKS)} (default: each dataset's 'tasks' in "
            "datasets.toml, else the first task its labels give).",
        ),
    )
    split: tuple[str, ...] = field(
        default=(),
        metadata=option(
            help="Split protocols to run every dataset under, side by side: grouped (artists "
            "kept apart), random (ungrouped, as most published MER results) or official; "
            "comma-separated (default: each dataset's split in datasets.toml). The task page "
            "shows the leakage gap. 'transfer' also trains on each dataset and tests on each "
            "other one sharing a task (docs/protocol.md)."
        ),
    )
    budget: str = field(
        default="default",
        metadata=option(
            show_default=True,
            help=f"Folds, trials and epochs: {', '.join(BUDGETS)}, or a [budgets.NAME] table "
            "of datasets.toml; see docs/protocol.md.",
        ),
    )
    budget_overrides: str = field(
        default="",
        metadata=option(
            flag="--set",
            metavar="KEY=VALUE,...",
            help="Override budget values, e.g. trials=10,epochs=20 (docs/configuration.md).",
        ),
    )
    seed: int = field(
        default=0,
        metadata=option(kind="int", show_default=True, help="Seed of folds and tuning."),
    )
    config: Path | None = field(
        default=None,
        metadata=option(
            kind="path",
            help="datasets.toml to read (default: ./datasets.toml, else the packaged one).",
        ),
    )
    out: Path | None = field(
        default=None,
        metadata=option(
            kind="folder", help="Run directory for results and logs (default: runs/NAME)."
        ),
    )
    name: str | None = field(
        default=None,
        metadata=option(help="Run name (default: the datasets' names joined by '+')."),
    )
    leaderboard: Path | None = field(
        default=None,
        metadata=option(
            kind="folder",
            help="Where to write the leaderboard site (default: the run directory's "
            "leaderboard/, runs/NAME/leaderboard).",
        ),
    )
    storage: str | None = field(
        default=None,
        metadata=option(
            help="SQLAlchemy URL of the results store, e.g. postgresql://host/db to share the "
            "run with 'merbench worker' processes (default: SQLite in the run directory)."
        ),
    )
    enqueue_only: bool = field(
        default=False,
        metadata=option(
            help="Store the folds and pending cells and exit; 'merbench worker' processes run them."
        ),
    )
    plan: bool = field(
        default=False,
        metadata=option(
            help="Print the cost plan (cells per candidate, cell-hours, wall time on N "
            "workers) and exit without running a cell or storing anything; timings come from "
            "the run's store when it has some, else from a short probe of each candidate."
        ),
    )
    heartbeat_timeout: float = field(
        default=HEARTBEAT_TIMEOUT_S,
        metadata=option(
            kind="float",
            minimum=0.2,
            metavar="SECONDS",
            show_default=True,
            envvar="MERBENCH_HEARTBEAT_TIMEOUT",
            help="Seconds without a heartbeat after which a worker's running cell is re-queued.",
        ),
    )
    top_k: int | None = field(
        default=None,
        metadata=option(
            kind="int",
            minimum=1,
            help="Also report top-k accuracy of classification tasks, beside its chance level "
            "k/classes.",
        ),
    )
    precision: str = field(
        default="fp32",
        metadata=option(
            choices=PRECISIONS,
            show_default=True,
            help="Arithmetic of torch models: fp32, or bf16 autocast (much faster on CPUs with "
            "AMX or AVX-512 BF16 and on recent GPUs; recorded with the results).",
        ),
    )
    augment: tuple[str, ...] = field(
        default=(),
        metadata=option(
            help="Augmentation policy to add beside each torch candidate, e.g. 'specaugment' "
            "or 'gain+mixup'; comma-separated or repeated. See docs/augmentation.md."
        ),
    )
    augment_mode: str = field(
        default="auto",
        metadata=option(
            choices=RUN_AUGMENT_MODES,
            show_default=True,
            help="How waveform augmentations run: each one's own default (auto), on-the-fly "
            "every epoch, or pre-rendered copies cached once per seed.",
        ),
    )
    jobs: int | str = field(
        default="auto",
        metadata=option(
            show_default=True,
            envvar="MERBENCH_JOBS",
            help="Processes working through the cells at once on this machine, the cores "
            "split among them: a number, or 'auto' (one per core up to 4 on a CPU, 1 with "
            "CUDA). Each cell is seeded from its own identity, whichever process runs it.",
        ),
    )
    executor: str | None = field(
        default=None,
        metadata=option(
            choices=EXECUTORS,
            help="Where cells run: local (this machine's --jobs processes; the default, or "
            "the [executor] kind of datasets.toml) or dask (tasks on a Dask cluster; pip "
            'install "merbench[dask]"; docs/scale-out.md).',
        ),
    )
    scheduler: str | None = field(
        default=None,
        metadata=option(
            metavar="ADDRESS",
            help="The Dask scheduler of --executor dask, e.g. tcp://host:8786 (default: the "
            "[executor] scheduler of datasets.toml, else a local cluster of --jobs processes).",
        ),
    )
    track: str | None = field(
        default=None,
        metadata=option(
            choices=TRACKERS,
            help="Also log the run to an experiment tracker: mlflow (one MLflow run for the "
            "run, one nested run per finished cell with its parameters, metrics, timings and "
            "predictions; pip install 'merbench[mlflow]'; docs/tracking.md).",
        ),
    )
    tracking_uri: str | None = field(
        default=None,
        metadata=option(
            metavar="URI",
            help="Where --track logs, e.g. http://host:5000 or sqlite:///mlflow.db (default: "
            "sqlite:///RUN_DIR/mlflow.db, artifacts in RUN_DIR/mlruns).",
        ),
    )
    fresh: bool = field(
        default=False,
        metadata=option(help="Delete the run directory's results and start over."),
    )
    render: bool = field(
        default=True,
        metadata=option(
            flag="--no-leaderboard",
            help="Do not render the leaderboard when the run ends ('merbench leaderboard' "
            "renders it).",
        ),
    )

    def __post_init__(self) -> None:
        if self.seed < 0 or self.seed >= 2**32:
            raise ConfigError(f"--seed {self.seed}: give a whole number from 0 to 4294967295.")
        if self.name is not None:
            check_run_name(self.name)
        if self.track is not None and self.track not in TRACKERS:
            raise ConfigError(f"--track {self.track}: choose {', '.join(TRACKERS)}.")
        if self.tracking_uri is not None and self.track is None:
            raise ConfigError(
                f"--tracking-uri {self.tracking_uri}: nothing is tracked. Add --track mlflow."
            )

    @classmethod
    def from_options(cls, **values: Any) -> RunSettings:
        """Build settings from option values as ``merbench run`` or ``merbench.run()`` give them.

        A list option takes a str or any sequence of str, each comma-separated or not
        (``datasets="a,b"`` is ``("a", "b")``); a path takes a str or a ``Path``.

        Raises:
            TypeError: a value is not a run option.
        """
        options = {option.name: option for option in run_options()}
        unknown = sorted(values.keys() - options.keys())
        if unknown:
            raise TypeError(f"not run options: {', '.join(unknown)}")
        return cls(**{name: options[name].normalise(v) for name, v in values.items()})

    def run_name(self, datasets: tuple[str, ...]) -> str:
        """The run's name: as given, else its datasets' names joined by ``+``."""
        return self.name or "+".join(datasets)

    def run_dir(self, name: str) -> Path:
        """Where the run's store and log live."""
        return self.out or Path("runs") / name

    def site_dir(self, name: str) -> Path:
        """Where the run's leaderboard goes: as given, else inside the run it belongs to."""
        return (
            self.leaderboard if self.leaderboard is not None else self.run_dir(name) / "leaderboard"
        )

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
        for option in run_options():
            if option.multiple and option.name in values:
                values[option.name] = tuple(values[option.name])
        return cls(**(values | overrides))


def is_run_name(name: str) -> bool:
    """Whether ``name`` is dataset-like names joined by ``+`` (as a default run name is)."""
    return len(name) <= MAX_RUN_NAME and all(NAME_PATTERN.match(p) for p in name.split("+"))


def check_run_name(name: str) -> None:
    """Refuse a run name that is not names joined by ``+``: it names folders (``runs/NAME``).

    Raises:
        ConfigError: naming the run name (cut short when long) and the allowed form.
    """
    if is_run_name(name):
        return
    shown = repr(name) if len(name) <= 60 else f"{name[:40]!r}... ({len(name)} characters)"
    suggestion = "+".join(filter(None, map(suggest_name, name.split("+"))))
    hint = f" Did you mean '{suggestion}'?" if suggestion and is_run_name(suggestion) else ""
    raise ConfigError(
        f"--name {shown}: not a valid run name.{hint} A run name is one or more names joined "
        "by '+', each a lowercase letter followed by up to 31 lowercase letters, digits or '-' "
        f"({MAX_RUN_NAME} characters at most), as in 'pmemo+deam'."
    )


def run_options() -> tuple[RunOption, ...]:
    """Every run option, in ``merbench run --help`` order, with its field's name and default."""
    return tuple(
        replace(f.metadata["option"], name=f.name, default=f.default) for f in fields(RunSettings)
    )


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
