"""The ``merbench`` command line: thin click commands over the library (bodies in ``commands``).

Importing this module, and ``merbench --help`` or ``merbench run --help``, import neither torch,
optuna, rich nor SQLAlchemy: the group's callback only records its options, and each command
sets up logging when it starts (``_start``).

Exit codes: 0 everything ran; 1 the run finished but a cell failed or a requested candidate or
dataset could not run; 2 nothing ran (a bad command line, ``datasets.toml`` or plugin name);
130 interrupted (finished cells are kept: run the same command again to resume).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from merbench.errors import MerbenchError
from merbench.evaluation.budgets import BUDGETS
from merbench.plugin.specs import RUN_AUGMENT_MODES, TASKS
from merbench.plugin.torch_space import PRECISIONS
from merbench.version import __version__

EXIT_FAILED_CELLS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class MerbenchClickError(click.ClickException):
    """A ``MerbenchError`` shown as one line, exit code 2."""

    exit_code = EXIT_USAGE


def _fail(exc: MerbenchError) -> NoReturn:
    raise MerbenchClickError(str(exc)) from None


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    """Accept repeated options and comma-separated lists alike."""
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


HEARTBEAT_OPTION = click.option(
    "--heartbeat-timeout",
    type=click.FloatRange(min=0.2),
    metavar="SECONDS",
    default=60.0,
    show_default=True,
    envvar="MERBENCH_HEARTBEAT_TIMEOUT",
    help="Seconds without a heartbeat after which a worker's running cell is re-queued.",
)
"""Shared by ``run`` and ``worker``: both take part in a run's queue."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="merbench")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug and Optuna).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.option(
    "--strict-plugins",
    is_flag=True,
    envvar="MERBENCH_STRICT_PLUGINS",
    help="Stop on the first broken plugin instead of skipping it (for plugin authors).",
)
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool, strict_plugins: bool) -> None:
    """Benchmark music emotion recognition models: tuned, grouped, cross-validated, published.

    Start with 'merbench run --models all' (the embedded synth dataset, default budget), then
    open the leaderboard it prints. Plugins add datasets, front-ends, augmentations and models.
    """
    ctx.obj = {"strict": strict_plugins, "verbosity": -1 if quiet else verbose, "started": False}


def _start(ctx: click.Context) -> None:
    """Set up the process for a command's work: allocator, logging (once per process)."""
    root = ctx.find_root()
    if root.obj is None or root.obj["started"]:
        return
    from merbench.cli.console import setup_logging
    from merbench.train.allocator import configure_allocator

    configure_allocator()  # before torch allocates anything
    setup_logging(root.obj["verbosity"])
    root.obj["started"] = True


def _registry(ctx: click.Context) -> Any:
    from merbench.plugin.registry import load_registry

    _start(ctx)
    try:
        return load_registry(strict=ctx.find_root().obj["strict"])
    except MerbenchError as exc:
        _fail(exc)


@main.command()
@click.option(
    "--models",
    "-m",
    multiple=True,
    default=("all",),
    show_default=True,
    help="'all', model names (their default front-ends) or candidates like 'cnn2d@mel'; "
    "comma-separated or repeated.",
)
@click.option(
    "--datasets",
    "-d",
    multiple=True,
    help="Dataset names from datasets.toml (default: every enabled one).",
)
@click.option(
    "--tasks",
    "-t",
    multiple=True,
    help=f"'all' or tasks: {', '.join(TASKS)} (default: each dataset's first task).",
)
@click.option(
    "--split",
    multiple=True,
    help="Split protocols to run every dataset under, side by side: grouped (artists kept "
    "apart), random (ungrouped, as most published MER results) or official; comma-separated "
    "(default: each dataset's split in datasets.toml). The task page shows the leakage gap.",
)
@click.option(
    "--budget",
    default="default",
    show_default=True,
    help=f"Folds, trials and epochs: {', '.join(BUDGETS)}, or a [budgets.NAME] table of "
    "datasets.toml; see docs/protocol.md.",
)
@click.option(
    "--set",
    "budget_overrides",
    default="",
    metavar="KEY=VALUE,...",
    help="Override budget values, e.g. trials=10,epochs=20 (docs/configuration.md).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of folds and tuning.")
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    help="datasets.toml to read (default: ./datasets.toml, else the packaged one).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Run directory for results and logs (default: runs/NAME).",
)
@click.option("--name", help="Run name (default: the datasets' names joined by '+').")
@click.option(
    "--leaderboard",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to write the leaderboard site (default: leaderboards/NAME).",
)
@click.option(
    "--storage",
    help="SQLAlchemy URL of the results store, e.g. postgresql://host/db to share the run "
    "with 'merbench worker' processes (default: SQLite in the run directory).",
)
@click.option(
    "--enqueue-only",
    is_flag=True,
    help="Store the folds and pending cells and exit; 'merbench worker' processes run them.",
)
@HEARTBEAT_OPTION
@click.option(
    "--top-k",
    type=click.IntRange(1),
    help="Also report top-k accuracy of classification tasks, beside its chance level k/classes.",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="fp32",
    show_default=True,
    help="Arithmetic of torch models: fp32, or bf16 autocast (much faster on CPUs with AMX or "
    "AVX-512 BF16 and on recent GPUs; recorded with the results).",
)
@click.option(
    "--augment",
    multiple=True,
    help="Augmentation policy to add beside each torch candidate, e.g. 'specaugment' or "
    "'gain+mixup'; comma-separated or repeated. See docs/augmentation.md.",
)
@click.option(
    "--augment-mode",
    type=click.Choice(RUN_AUGMENT_MODES),
    default="auto",
    show_default=True,
    help="How waveform augmentations run: each one's own default (auto), on-the-fly every "
    "epoch, or pre-rendered copies cached once per seed.",
)
@click.option(
    "--jobs",
    default="auto",
    show_default=True,
    envvar="MERBENCH_JOBS",
    help="Processes working through the cells at once on this machine, the cores split among "
    "them: a number, or 'auto' (one per core up to 4 on a CPU, 1 with CUDA). Each cell is "
    "seeded from its own identity, whichever process runs it.",
)
@click.option("--fresh", is_flag=True, help="Delete the run directory's results and start over.")
@click.option(
    "--no-leaderboard",
    "no_leaderboard",
    is_flag=True,
    help="Do not render the leaderboard when the run ends ('merbench leaderboard' renders it).",
)
@click.option("--no-progress", is_flag=True, help="Print one line per cell instead of bars.")
@click.pass_context
def run(
    ctx: click.Context,
    models: tuple[str, ...],
    datasets: tuple[str, ...],
    tasks: tuple[str, ...],
    split: tuple[str, ...],
    budget: str,
    budget_overrides: str,
    seed: int,
    config: Path | None,
    out: Path | None,
    name: str | None,
    leaderboard: Path | None,
    storage: str | None,
    enqueue_only: bool,
    heartbeat_timeout: float,
    top_k: int | None,
    precision: str,
    augment: tuple[str, ...],
    augment_mode: str,
    jobs: str,
    fresh: bool,
    no_leaderboard: bool,
    no_progress: bool,
) -> None:
    """Tune and compare models with nested, grouped cross-validation; render the leaderboard.

    Re-running the same command resumes: finished cells are kept, the rest are (re)done.
    """
    from merbench.cli.commands import run_command

    settings = dict(
        models=_split(models),
        datasets=_split(datasets),
        tasks=_split(tasks),
        split=_split(split),
        budget=budget,
        budget_overrides=budget_overrides,
        seed=seed,
        config=config,
        out=out,
        name=name,
        leaderboard=leaderboard,
        storage=storage,
        enqueue_only=enqueue_only,
        heartbeat_timeout=heartbeat_timeout,
        top_k=top_k,
        precision=precision,
        augment=_split(augment),
        augment_mode=augment_mode,
        jobs=jobs,
        fresh=fresh,
        render=not no_leaderboard,
    )
    code = _guard(lambda: run_command(_registry(ctx), settings, progress=not no_progress))
    sys.exit(code)


@main.command("list")
@click.argument(
    "what",
    type=click.Choice(
        ["models", "candidates", "frontends", "augmentations", "datasets", "budgets", "tasks"]
    ),
    default="candidates",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--config", type=click.Path(path_type=Path), help="datasets.toml for 'datasets' and 'budgets'."
)
@click.pass_context
def list_(ctx: click.Context, what: str, as_json: bool, config: Path | None) -> None:
    """List models, candidates, front-ends, augmentations, datasets, budgets or tasks."""
    from merbench.cli.commands import list_command

    _guard(lambda: list_command(_registry(ctx), what, as_json=as_json, config=config))


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List every plugin with its distribution, version and records, and every failure.

    'merbench plugins check TARGET' runs the contract kit on one plugin.
    """
    if ctx.invoked_subcommand is not None:
        return
    from merbench.cli.commands import plugins_command

    registry = _registry(ctx)
    sys.exit(_guard(lambda: plugins_command(registry, as_json=as_json)))


@plugins.command("check")
@click.argument("target")
@click.pass_context
def plugins_check(ctx: click.Context, target: str) -> None:
    """Run the contract kit on a plugin module or an installed distribution's plugins.

    TARGET is an importable module (merbench_tinycnn) or a distribution (merbench-tinycnn).
    """
    from merbench.cli.commands import check_command

    _start(ctx)
    sys.exit(_guard(lambda: check_command(target)))


@main.command("new-plugin")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["model", "frontend", "augmentation", "dataset"]),
    default="model",
    show_default=True,
    help="What the plugin provides.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="Folder to create the package folder in.",
)
def new_plugin(name: str, kind: str, out: Path) -> None:
    """Write a working plugin package skeleton (pyproject, module, test) named merbench-NAME."""
    from merbench.plugin.scaffold import write_plugin

    folder = _guard(lambda: write_plugin(name, kind, out))
    click.echo(f"Created {folder}. Next: pip install -e {folder} && merbench plugins check {name}")


@main.command()
@click.option(
    "--storage",
    required=True,
    envvar="MERBENCH_STORAGE",
    help="SQLAlchemy URL of the run's results store, as given to 'merbench run --storage' "
    "(or $MERBENCH_STORAGE, which keeps a password off the command line; PostgreSQL also reads "
    "PGPASSWORD and ~/.pgpass).",
)
@click.option("--run", "run_name", help="Refuse to work unless the store holds this run.")
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    help="datasets.toml of this machine (default: the run's, if that path exists here).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for this worker's log (default: runs/NAME).",
)
@HEARTBEAT_OPTION
@click.pass_context
def worker(
    ctx: click.Context,
    storage: str,
    run_name: str | None,
    config: Path | None,
    out: Path | None,
    heartbeat_timeout: float,
) -> None:
    """Take a shared run's pending cells and run them until the run is finished.

    Start any number, on any machines that reach the database; each claims one cell at a time.
    """
    from merbench.cli.commands import worker_command

    settings = dict(
        storage=storage,
        run=run_name,
        config=config,
        out=out,
        heartbeat_timeout=heartbeat_timeout,
    )
    sys.exit(_guard(lambda: worker_command(_registry(ctx), settings)))


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--storage", help="SQLAlchemy URL of the store, if not the run directory's SQLite.")
@click.pass_context
def status(ctx: click.Context, run_dir: Path, storage: str | None) -> None:
    """Show how far a run has got: cells by status, and the failures."""
    from merbench.cli.commands import status_command

    _start(ctx)
    _guard(lambda: status_command(run_dir, storage))


@main.command()
@click.argument("runs", nargs=-1, required=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder to write the site into.",
)
@click.option("--title", default="merbench leaderboard", show_default=True, help="Site title.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["html", "eval-results"]),
    default="html",
    show_default=True,
    help="html: the site; eval-results: a Hugging Face model-index YAML per candidate and dataset.",
)
@click.pass_context
def leaderboard(
    ctx: click.Context, runs: tuple[str, ...], out: Path, title: str, output_format: str
) -> None:
    """Render one leaderboard site from one or more run directories (results merge).

    A run may also be given by its store's URL (postgresql://host/db).
    """
    from merbench.cli.commands import leaderboard_command

    _start(ctx)
    _guard(lambda: leaderboard_command(runs, out, title, output_format))


@main.command()
@click.argument("run_dir", metavar="RUN")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="CSV file to write the folds into.",
)
@click.pass_context
def folds(ctx: click.Context, run_dir: str, out: Path) -> None:
    """Write a run's outer folds as CSV: one row per track of every fold, train or test.

    RUN is a run directory or its store's URL. Columns: dataset, task, split, repeat, fold,
    track_id, group, part (train/test), manifest_hash. Train elsewhere on these folds, then
    'merbench score' the test predictions.
    """
    from merbench.cli.commands import folds_command

    _start(ctx)
    _guard(lambda: folds_command(run_dir, out))


@main.command()
@click.argument("predictions", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--run", "run_dir", required=True, help="Run directory or store URL.")
@click.option("--name", required=True, help="Name of the external entry on the leaderboard.")
@click.option("--dataset", help="Dataset of the predictions (default: the run's only one).")
@click.option("--task", help="Task of the predictions (default: the run's only one).")
@click.option(
    "--split",
    help="Split protocol of the folds predicted (default: the one that ranks the task).",
)
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    help="datasets.toml of this machine (default: the run's, if that path exists here).",
)
@click.pass_context
def score(
    ctx: click.Context,
    predictions: Path,
    run_dir: str,
    name: str,
    dataset: str | None,
    task: str | None,
    split: str | None,
    config: Path | None,
) -> None:
    """Score predictions made elsewhere on a run's folds; store them as an external entry.

    PREDICTIONS is a CSV with track_id, repeat, fold and arousal, valence (regression) or
    class (classification, optionally proba_<label> per class): one row per test track of
    every fold of 'merbench folds'. The entry is ranked and tiered beside the candidates.
    """
    from merbench.cli.commands import score_command

    request = dict(predictions=predictions, name=name, dataset=dataset, task=task)
    request |= dict(split=split, config=config)
    registry = _registry(ctx)
    _guard(lambda: score_command(registry, run_dir, request))


@main.command()
@click.argument("run_dir", metavar="RUN")
@click.option(
    "--candidate",
    help="Candidate to export, e.g. 'cnn2d@mel' (default: the leader of the dataset and task).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="New or empty folder to write the model into.",
)
@click.option("--dataset", help="Dataset to train on (default: the run's only one).")
@click.option("--task", help="Task of the model (default: the run's only one).")
@click.option(
    "--params",
    type=click.Choice(["final-study", "best-fold"]),
    default="final-study",
    show_default=True,
    help="final-study: a study with the run's budget on all tracks, then the refit; best-fold: "
    "the best fold cell's parameters refitted on all tracks (docs/export.md).",
)
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    help="datasets.toml of this machine (default: the run's, if that path exists here).",
)
@click.pass_context
def export(
    ctx: click.Context,
    run_dir: str,
    candidate: str | None,
    out: Path,
    dataset: str | None,
    task: str | None,
    params: str,
    config: Path | None,
) -> None:
    """Train a run's candidate on every track of a dataset and write it to a folder.

    RUN is a run directory or its store's URL. The folder gets model.json, the weights
    (safetensors or skops) and check.csv; 'merbench predict' uses it on any audio.
    """
    from merbench.cli.commands import export_command

    request = dict(candidate=candidate, out=out, dataset=dataset, task=task, params=params)
    registry = _registry(ctx)
    _guard(lambda: export_command(registry, run_dir, dict(request, config=config)))


@main.command()
@click.argument("model", type=click.Path(path_type=Path, file_okay=False))
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="CSV file to write the predictions into.",
)
@click.option("--no-progress", is_flag=True, help="Print no progress bar.")
@click.pass_context
def predict(
    ctx: click.Context, model: Path, audio: tuple[Path, ...], out: Path, no_progress: bool
) -> None:
    """Predict audio files with an exported model: one CSV row per file.

    MODEL is a folder 'merbench export' wrote; AUDIO are files or folders (searched for audio
    files). Exit 1 if a file could not be read (the others are predicted).
    """
    from merbench.cli.commands import predict_command

    registry = _registry(ctx)
    sys.exit(_guard(lambda: predict_command(registry, model, audio, out, not no_progress)))


@main.command()
@click.argument("dataset")
@click.option("--config", type=click.Path(path_type=Path), help="datasets.toml to read.")
@click.pass_context
def verify(ctx: click.Context, dataset: str, config: Path | None) -> None:
    """Check a dataset's local copy: files, labels and audio; exit 1 if it cannot be used."""
    from merbench.cli.commands import verify_command

    registry = _registry(ctx)
    sys.exit(_guard(lambda: verify_command(registry, dataset, config)))


def _guard(action: Any) -> Any:
    """Run a command body: MerbenchError -> one line; Ctrl-C -> exit 130."""
    try:
        result = action()
    except MerbenchError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        click.echo(
            "Interrupted; finished cells are kept. Run the same command to resume.", err=True
        )
        sys.exit(EXIT_INTERRUPTED)
    return result


def _json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))
