"""The cost plan: rates from measured cells, scaled to a budget and a dataset, on N workers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from merbench.evaluation.budgets import BUDGETS
from merbench.pipeline.candidates import parse_candidate
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
from merbench.pipeline.probe import defaults_weighted, probe_rates_of, rate_finder

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
    # two full trials of 6 epochs, two pruned half the time at 2: 5 epochs a trial
    assert trial * DEFAULT.epochs == pytest.approx(5.0)
    assert refit * DEFAULT.epochs == pytest.approx(4.5)  # between patience + 1 and the cap
    assert refits == 2
    assert prior_habits(DEFAULT, network=False, tuned=False) == (1.0, 1.0, 1.0)
    probe = sample_of("cnn", TIMINGS, INFO | {"default": {}}, [1, 1, 1], epoch_cap=1)
    assert probe is not None
    rates = replace(rates_of([probe], source="probe"), trial_fraction=trial, refit_fraction=refit,
                    refits=refits)  # fmt: skip
    work = work_of(rates, DEFAULT, SIZE)
    assert work.fits == DEFAULT.trials + 2
    assert work.track_epochs == pytest.approx(4 * 5.0 * 160 + 2 * 4.5 * 200)


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
    unknown = estimate(lines[1:], budget="smoke", jobs=2)
    assert summary_lines(unknown)[-1] == (
        "Plan (smoke budget): 3 cells, no timings yet ('merbench run --plan' probes them)."
    )


def test_a_fits_first_epoch_surcharge_is_a_cost_per_fit_not_per_epoch():
    # 2-epoch fits (a smoke run): 1 s per fit in its first epoch beyond 0.001 s per track-epoch
    info = INFO | {"refit_epochs": 2, "default": {}}
    trials, refits = [2, 2], 1
    first_tracks = len(trials) * 160 + refits * 200
    track_epochs = sum(trials) * 160 + 2 * refits * 200
    fits = len(trials) + refits
    per = 0.001 * 3.0  # seconds of one track-epoch of 3-s windows
    timings = {
        "phase_train_s": fits * 1.0 + track_epochs * per,
        "phase_setup_s": 0.3,
        "tally_first_epoch_s": fits * 1.0 + first_tracks * per,
    }
    smoke = sample_of("cnn", timings, info, trials, epoch_cap=2)
    assert smoke is not None
    rates = rates_of([smoke])
    assert rates.per_track_epoch == pytest.approx(0.001)
    assert rates.per_fit == pytest.approx((0.3 + fits * 1.0) / fits)
    longer = replace(rates, trial_fraction=1.0, refit_fraction=1.0, refits=1)
    seconds = cell_seconds(longer, work_of(longer, replace(DEFAULT, epochs=30), SIZE))
    work = work_of(longer, replace(DEFAULT, epochs=30), SIZE)
    assert seconds == pytest.approx(work.fits * (0.1 + 1.0) + work.track_epochs * per)
    untallied = rates_of([replace(smoke, first_epoch_s=0.0)])  # older stores: all per epoch
    assert untallied.per_track_epoch > rates.per_track_epoch
    assert untallied.per_fit == pytest.approx(0.1)


def test_the_plans_pruner_warm_up_is_the_first_epoch_optuna_prunes_at():
    import optuna

    from merbench.pipeline.estimate import PRUNER_STARTUP, PRUNER_WARMUP
    from merbench.train.tuning import MEDIAN_PRUNER

    assert MEDIAN_PRUNER == {"n_startup_trials": PRUNER_STARTUP, "n_warmup_steps": PRUNER_WARMUP}
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.MedianPruner(**MEDIAN_PRUNER)
    )
    for _ in range(PRUNER_STARTUP):  # trials the pruner never prunes, scoring 1 at every epoch
        trial = study.ask()
        for epoch in range(1, 4):
            trial.report(1.0, epoch)
        study.tell(trial, 1.0)
    worse = study.ask()
    pruned = []
    for epoch in range(1, 4):  # a trial reports its epochs from 1, as a cell's does
        worse.report(0.0, epoch)
        pruned.append(worse.should_prune())
    assert pruned.index(True) + 1 == PRUNER_WARMUP


def test_a_cell_without_timings_or_info_gives_no_sample():
    assert sample_of("cnn", {}, INFO, [], epoch_cap=6) is None
    assert sample_of("cnn", TIMINGS, {}, [], epoch_cap=6) is None


def test_a_probe_on_two_sizes_separates_the_cost_per_fit_from_the_cost_per_track():
    def probe(n_train, seconds):
        sizes = {"n_train": n_train, "n_valid": n_train // 5, "n_test": n_train // 2}
        info = INFO | sizes | {"n_windows_train": 6 * n_train, "default": {}, "refit_epochs": 1}
        timings = {"phase_train_s": seconds, "phase_setup_s": 0.5, "phase_other_s": 0.1}
        sample = sample_of("cnn", timings, info, [1, 1, 1], epoch_cap=1)
        assert sample is not None
        return sample

    # 2 s a fit whatever its tracks (4 fits), 0.01 s per track-epoch and second of window
    small, large = probe(10, 8 + 0.01 * 3 * 34), probe(40, 8 + 0.01 * 3 * 136)
    rates = probe_rates_of(small, large)
    assert rates.per_track_epoch == pytest.approx(0.01)
    assert rates.per_fit == pytest.approx((8 + 0.5) / 4)
    assert rates.per_cell == pytest.approx(0.1) and rates.source == "probe"
    noisy = probe_rates_of(large, small)  # fewer tracks took longer: all of it per track
    assert noisy.per_track_epoch == pytest.approx(small.phases["train"] / (34 * 3))


def test_stored_cells_give_their_habits_unless_their_epoch_cap_was_smaller():
    smoke = sample_of("cnn", TIMINGS, INFO, [2, 2, 2, 2], epoch_cap=2)
    default = sample_of("cnn", TIMINGS, INFO, TRIAL_EPOCHS, epoch_cap=6)
    assert smoke is not None and default is not None
    find = rate_finder({"cnn": [smoke], "other": [default]}, None, DEFAULT)
    from_smoke = find(None, None, parse_candidate("cnn"))  # type: ignore[arg-type]
    assert not isinstance(from_smoke, str)
    assert from_smoke.trial_fraction == pytest.approx(5.0 / 6)  # the budget's, not 2 of 2
    from_default = find(None, None, parse_candidate("other"))  # type: ignore[arg-type]
    assert not isinstance(from_default, str) and from_default.trial_fraction == pytest.approx(0.75)
    assert find(None, None, parse_candidate("new")) == "no timings"  # type: ignore[arg-type]


def test_the_api_returns_the_plan_and_writes_nothing(install_tones, tmp_path):
    from merbench import api

    table = api.run(
        "mean,ridge", baselines=False, budget="smoke", config=install_tones(), plan=True
    ).plan
    assert table is not None
    assert set(table["candidate"]) == {"mean", "ridge@handcrafted"}
    assert set(table["source"]) == {"probe"} and table["cells"].sum() == 6
    assert (table["seconds_per_cell"] >= 0).all() and table.attrs["wall_s"][8] >= 0
    assert not (tmp_path / "runs").exists()


def test_a_probe_times_the_defaults_and_several_drawn_configurations(install_tones, monkeypatch):
    # A configuration's cost can differ tenfold from another's (a network's width, a
    # spectrogram's hop): rates from the defaults and one or two draws miss the search
    # space's expensive part, so every probe cell tries PROBE_TRIALS configurations.
    from merbench import api
    from merbench.pipeline import probe

    tried: list[list[str]] = []
    run_cell = probe.run_cell

    def recorded(plan, features):
        result = run_cell(plan, features)
        tried.append([repr(sorted(t["params"].items())) for t in result.trials])
        return result

    monkeypatch.setattr(probe, "run_cell", recorded)
    api.run("ridge", baselines=False, budget="smoke", config=install_tones(), plan=True)
    assert len(tried) == 3  # paying the features, then on fewer and on more tracks
    assert all(len(params) == probe.PROBE_TRIALS for params in tried)
    assert len(set(tried[0])) == probe.PROBE_TRIALS  # the defaults and distinct draws
    assert tried[1] == tried[2]  # the same configurations on both sizes


def test_a_probes_defaults_weigh_as_often_as_a_cell_trains_them():
    # The probe tries the defaults once in eight; a default-budget cell trains them in two of
    # its six fits (the first trial, the default refit). Cheap defaults lower the cell's mean.
    trials = [{"duration_s": 1.0}] + [{"duration_s": 5.0}] * 7  # mean 4.5 s
    assert defaults_weighted(trials, 1 / 8) == pytest.approx(1.0)  # the probe's own mix
    assert defaults_weighted(trials, 1 / 3) == pytest.approx((1 / 3 + 10 / 3) / 4.5)
    assert defaults_weighted(trials, 1.0) == pytest.approx(1 / 4.5)
    assert defaults_weighted([{"duration_s": 2.0}], 1 / 3) == 1.0  # nothing to weigh
    assert defaults_weighted([{"duration_s": 0.0}] * 3, 1 / 3) == 1.0
