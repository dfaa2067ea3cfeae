"""``merbench leaderboard``, ``folds``, ``score``, ``export`` and ``predict``: the commands that
take a run's results elsewhere, or bring results made elsewhere in.

Thin click commands; their bodies are in ``merbench.cli.publish_commands``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from merbench.cli.options import machine_config
from merbench.cli.runtime import guard, plugin_registry, start


@click.command()
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
    from merbench.cli.publish_commands import leaderboard_command

    start(ctx)
    guard(lambda: leaderboard_command(runs, out, title, output_format))


@click.command()
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
    from merbench.cli.publish_commands import folds_command

    start(ctx)
    guard(lambda: folds_command(run_dir, out))


@click.command()
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
    "--replace", is_flag=True, help="Replace an entry of the same name on the same folds."
)
@machine_config
@click.pass_context
def score(
    ctx: click.Context,
    predictions: Path,
    run_dir: str,
    name: str,
    dataset: str | None,
    task: str | None,
    split: str | None,
    replace: bool,
    config: Path | None,
) -> None:
    """Score predictions made elsewhere on a run's folds; store them as an external entry.

    PREDICTIONS is a CSV with track_id, repeat, fold and arousal, valence (regression),
    class (classification, optionally proba_<label> per class) or one score per tag of the
    dataset (mood-tags): one row per test track of every fold of 'merbench folds'. The entry
    is ranked and tiered beside the candidates. An entry of the same name on the same folds
    is refused unless --replace is given.
    """
    from merbench.cli.publish_commands import score_command

    request = dict(predictions=predictions, name=name, dataset=dataset, task=task)
    request |= dict(split=split, replace=replace, config=config)
    registry = plugin_registry(ctx)
    guard(lambda: score_command(registry, run_dir, request))


@click.command()
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
@machine_config
@click.option(
    "--push-to-hub",
    "repo_id",
    metavar="OWNER/NAME",
    help="Then upload the folder to this Hugging Face model repository (made if missing; "
    "the token of 'hf auth login' or HF_TOKEN).",
)
@click.option("--private", is_flag=True, help="Make the --push-to-hub repository private.")
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
    repo_id: str | None,
    private: bool,
) -> None:
    """Train a run's candidate on every track of a dataset and write it to a folder.

    RUN is a run directory or its store's URL. The folder gets model.json, the weights
    (safetensors or skops), check.csv and a model card (README.md); 'merbench predict' uses
    it on any audio.
    """
    from merbench.cli.publish_commands import export_command

    request = dict(candidate=candidate, out=out, dataset=dataset, task=task, params=params)
    registry = plugin_registry(ctx)
    request |= dict(config=config)
    guard(lambda: export_command(registry, run_dir, request, repo_id=repo_id, private=private))


@click.command()
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
    from merbench.cli.publish_commands import predict_command

    registry = plugin_registry(ctx)
    sys.exit(guard(lambda: predict_command(registry, model, audio, out, not no_progress)))
