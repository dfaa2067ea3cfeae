"""What ``merbench leaderboard``, ``folds``, ``score``, ``export`` and ``predict`` do and print:
the bodies behind ``merbench.cli.publish``'s click functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape

from merbench.cli.commands import print_leaders, warn_failures
from merbench.cli.console import console, wants_progress
from merbench.cli.runtime import writing
from merbench.plugin.registry import Registry


def leaderboard_command(
    runs: Sequence[str | Path], target: Path, title: str, output_format: str = "html"
) -> None:
    """``merbench leaderboard``: render one site (or the eval-results YAML) from several runs."""
    from merbench.leaderboard.render import render_site
    from merbench.pipeline.settings import check_folder
    from merbench.results.store import Store
    from merbench.results.urls import store_url

    check_folder(target, "--out")
    urls = [store_url(r) for r in runs]
    for url in urls:
        Store(url, read_only=True).close()  # one line, not a traceback, for a store it cannot read
    if output_format == "eval-results":
        from merbench.leaderboard.eval_results import write_eval_results

        with writing(target, "--out", "the model-index files"):
            files = write_eval_results(urls, target)
        where = escape(str(target.resolve()))
        console.print(f"Eval results: {len(files)} model-index file(s) in {where}", highlight=False)
        return
    with writing(target, "--out", "the site"):
        index = render_site(urls, target, title=title)
    console.print(f"Leaderboard: {escape(str(index.resolve()))}", highlight=False)


def folds_command(run: str | Path, target: Path) -> None:
    """``merbench folds``: write a run's outer folds as CSV, one row per track and fold."""
    from merbench.exchange.external import fold_table
    from merbench.results.store import Store
    from merbench.results.urls import store_url

    store = Store(store_url(run), read_only=True)
    try:
        table = fold_table(store)
    finally:
        store.close()
    _write_csv(table, target)
    splits = table[["dataset", "task", "split"]].drop_duplicates()
    console.print(
        f"Wrote {len(table)} rows ({len(splits)} split(s): "
        f"{escape(', '.join('/'.join(map(str, s)) for s in splits.itertuples(index=False)))}) "
        f"to {escape(str(target))}.",
        highlight=False,
    )


def _write_csv(table: Any, target: Path) -> None:
    from merbench.csvfiles import write_csv

    with writing(target, "--out", "this file"):
        target.parent.mkdir(parents=True, exist_ok=True)
        write_csv(table, target)


def score_command(registry: Registry, run: str | Path, request: Mapping[str, Any]) -> None:
    """``merbench score``: check, score and store external predictions; print the table."""
    from merbench.exchange.external import ScoreRequest, score_external
    from merbench.results.store import Store
    from merbench.results.urls import redact, store_url

    warn_failures(registry)
    url = store_url(run)
    store = Store(url, create=False)
    try:
        entry = score_external(store, registry, ScoreRequest(**request))
    finally:
        store.close()
    print_leaders(url)
    mean = sum(entry.scores.values()) / len(entry.scores)
    console.print(
        f"Stored external entry {escape(entry.name)} on {escape(entry.split.label())}: "
        f"{len(entry.scores)} fold(s), {entry.n_predictions} predictions, mean {entry.primary} "
        f"{mean:.3f}, fold manifest {entry.split.digest[:16]}. Render the site with "
        f"'merbench leaderboard {escape(redact(str(run)))} --out DIR'.",
        highlight=False,
    )


def export_command(
    registry: Registry,
    run: str | Path,
    request: Mapping[str, Any],
    *,
    repo_id: str | None = None,
    private: bool = False,
) -> None:
    """``merbench export``: train a candidate on every track; write the model folder; push it
    to the Hugging Face Hub with ``--push-to-hub``."""
    from merbench.exchange.export import ExportRequest, export_model
    from merbench.exchange.hub import check_repo_id, push_to_hub
    from merbench.results.store import Store
    from merbench.results.urls import store_url

    warn_failures(registry)
    if repo_id is not None:
        check_repo_id(repo_id)  # before the training, not after it
    store = Store(store_url(run), create=False)
    live = wants_progress(True)
    try:
        with console.status("training the final model") as status:

            def on_phase(text: str) -> None:
                if live:
                    status.update(escape(text))
                else:  # piped or in CI: a line per phase, so that a long export shows life
                    console.print(f"export: {escape(text)} ...", highlight=False, soft_wrap=True)

            exported = export_model(store, registry, ExportRequest(**request), on_phase=on_phase)
    finally:
        store.close()
    console.print(
        f"Exported {escape(exported.candidate)} ({escape(exported.dataset)}/"
        f"{escape(exported.task)}, {exported.params}, {exported.n_tracks} tracks) to "
        f"{escape(str(exported.folder))}: {escape(', '.join(exported.files))}. Predict with "
        f"'merbench predict {escape(str(exported.folder))} AUDIO... --out predictions.csv'.",
        highlight=False,
    )
    if repo_id is not None:
        message = f"merbench export: {exported.candidate} on {exported.dataset}/{exported.task}"
        with console.status(f"uploading to {repo_id}"):
            url = push_to_hub(exported.folder, repo_id, private=private, message=message)
        console.print(f"Pushed to {escape(url)}", highlight=False)


def predict_command(
    registry: Registry, folder: Path, targets: Sequence[Path], target: Path, progress: bool
) -> int:
    """``merbench predict``: one row per audio file; exit 1 if a file could not be read."""
    import pandas as pd
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from merbench.exchange.inference import audio_files, load_predictor, predict_files

    predictor = load_predictor(folder, registry)
    files = audio_files(targets)
    bar = Progress(
        TextColumn("[bold]predicting"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=not wants_progress(progress),
    )
    task = bar.add_task("files", total=len(files))

    def on_file(path: Path, error: str | None) -> None:
        if error is not None:
            bar.console.print(f"[red]{escape(error)}[/red]", highlight=False, soft_wrap=True)
        bar.advance(task)

    with bar:
        result = predict_files(predictor, files, on_file)
    columns = ["file", *result.columns]
    table = pd.DataFrame([[name, *values] for name, values in result.rows], columns=columns)
    if "class" in table:
        table["class"] = table["class"].astype(int)
    _write_csv(table, target)
    failed = f", {len(result.failed)} failed" if result.failed else ""
    console.print(
        f"Predicted {len(result.rows)} of {len(files)} file(s){failed}: {escape(str(target))}.",
        highlight=False,
    )
    return 1 if result.failed else 0
