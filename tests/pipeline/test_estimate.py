"""The cost plan: rates from measured cells, scaled to a budget and a dataset, on N workers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from merbench.evaluation.budgets import BUDGETS
from merbench.pipeline.estimate import (
    CellSize,
    Line,
    cell_seconds,
    estimate,
    makespan,
    prior_habits,
    rates_of,
    sample_of,
    summary_lines,
    work_of,
)

DEFAULT = BUDGETS["default"]  # 4 trials, 6 epochs, patience 2, 3 s windows, 20 % validation
SIZE = CellSize(n_train=200, n_test=50, windows_per_track=6.0)
INFO = {
    "model_family": "torch",
    "n_train": 200,
    "n_valid": 40,
    "n_test": 50,
    "n_windows_train": 1200,
    "window_s": 3.0,
    "refit_epochs": 4,
    "default": {"refit_epochs": 4, "metrics": {}, "same_as_tuned": False},
}
TIMINGS = {
    "phase_train_s": 60.0,
    "phase_validate_s": 6.0,
    "phase_predict_s": 2.0,
    "phase_setup_s": 0.6,
    "phase_other_s": 1.0,
    "phase_total_s": 69.6,
}
TRIAL_EPOCHS = [6, 6, 2, 4]  # two pruned or early-stopped trials: 4.5 epochs a trial


def _rates(**info):
    sample = sample_of("cnn", TIMINGS, INFO | info, TRIAL_EPOCHS, epoch_cap=6)
    assert sample is not None
    return rates_of([sample])


def test_a_cell_under_its_own_budget_and_size_costs_what_it_was_measured_at():
    rates = _rates()
    assert rates.trial_fraction == pytest.approx(4.5 / 6)
    assert rates.refits == 2
    seconds = cell_seconds(rates, work_of(rates, DEFAULT, SIZE))
    assert seconds == pytest.approx(69.6)


def test_trials_epochs_folds_and_tracks_scale_the_training_part():
    rates = _rates()
    base = work_of(rates, DEFAULT, SIZE)
    more_trials = work_of(rates, replace(DEFAULT, trials=8), SIZE)
    # the trials' track-epochs double; the refits' stay
    refit_part = 2 * 4 * 200
    assert more_trials.track_epochs - refit_part == pytest.approx(
        2 * (base.track_epochs - refit_part)
    )
    longer = work_of(rates, replace(DEFAULT, epochs=12, patience=4), SIZE)
    assert longer.track_epochs == pytest.approx(
        2 * base.track_epochs
    )  # the same habits, twice the cap
    bigger = work_of(rates, DEFAULT, replace(SIZE, n_train=400, n_test=100))
    assert bigger.track_epochs == pytest.approx(2 * base.track_epochs)
    assert bigger.windows == pytest.approx(2 * base.windows)
    wider = work_of(rates, replace(DEFAULT, clip_seconds=6.0), replace(SIZE, windows_per_track=3.0))
    assert cell_seconds(rates, wider) > cell_seconds(rates, base)  # same tracks, longer windows
    five = Line(dataset="d", task="t", split="grouped", candidate="cnn", cells=5,
                cell_seconds=(10.0,) * 5, source="stored")  # fmt: skip
    ten = replace(five, cells=10, cell_seconds=(10.0,) * 10)
    assert (
        estimate([ten], budget="x", jobs=1).cell_hours
        == 2 * estimate([five], budget="x", jobs=1).cell_hours
    )


def test_a_scikit_learn_cell_fits_once_per_trial_whatever_the_epochs():
    info = {"model_family": "sklearn", "refit_epochs": None}
    rates = _rates(**info)
    assert rates.trial_fraction == 1 and not rates.network
    base = cell_seconds(rates, work_of(rates, DEFAULT, SIZE))
    assert cell_seconds(rates, work_of(rates, replace(DEFAULT, epochs=60), SIZE)) == base


def test_makespan_is_longest_first_to_the_least_loaded_worker():
    assert makespan([5, 4, 3, 3, 3], 2) == 10  # 5 + 3 on one, 4 + 3 + 3 on the other
    assert makespan([5, 4, 3, 3, 3], 1) == 18
    assert makespan([5, 4, 3], 8) == 5
    assert makespan([], 4) == 0


def test_probe_habits_come_from_the_budget():
    trial, refit, refits = prior_habits(DEFAULT, network=True, tuned=True)
    # two full trials of 6 epochs, two pruned half the time after 3: 5.25 epochs a trial
    assert trial * DEFAULT.epochs == pytest.approx(5.25)
    assert refit * DEFAULT.epochs == pytest.approx(4.5)  # between patience + 1 and the cap
    assert refits == 2
    assert prior_habits(DEFAULT, network=False, tuned=False) == (1.0, 1.0, 1.0)
    probe = sample_of("cnn", TIMINGS, INFO | {"default": {}}, [1, 1, 1], epoch_cap=1)
    assert probe is not None
    rates = replace(rates_of([probe], source="probe"), trial_fraction=trial, refit_fraction=refit,
                    refits=refits)  # fmt: skip
    work = work_of(rates, DEFAULT, SIZE)
    assert work.fits == DEFAULT.trials + 2
    assert work.track_epochs == pytest.approx(4 * 5.25 * 160 + 2 * 4.5 * 200)


def test_the_plan_table_lists_every_candidate_and_the_wall_time_on_n_workers():
    lines = [
        Line(dataset="synth", task="av-regression", split="grouped", candidate="cnn", cells=2,
             cell_seconds=(600.0, 600.0), source="stored"),
        Line(dataset="synth", task="av-regression", split="grouped", candidate="odd", cells=3,
             cell_seconds=(), source="no timings"),
    ]  # fmt: skip
    plan = estimate(lines, budget="default", jobs=2)
    assert plan.cells == 5 and plan.unestimated == 3
    assert sorted(plan.wall_s) == [2, 8, 32, 128] and plan.wall_s[2] == 600
    text = summary_lines(plan)
    assert text[1].split()[:2] == ["cnn", "2"]
    assert "?" in text[2]
    assert "2 workers (--jobs) 10.0 min" in text[-1] and "3 cell(s) without an estimate" in text[-1]
    assert plan.records()[0]["cell_hours"] == pytest.approx(1200 / 3600)


def test_a_cell_without_timings_or_info_gives_no_sample():
    assert sample_of("cnn", {}, INFO, [], epoch_cap=6) is None
    assert sample_of("cnn", TIMINGS, {}, [], epoch_cap=6) is None
