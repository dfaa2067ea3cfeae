"""Tuning: composed search spaces, defaults first, pruned and failed trials recorded."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution

import merbench
from merbench.errors import CellError
from merbench.train.fit import NonFiniteLoss
from merbench.train.tuning import candidate_space, default_params, make_study, split_params, tune


class EveryOtherPruner(optuna.pruners.BasePruner):
    """Prunes odd-numbered trials: a deterministic pruner for tests."""

    def prune(self, study, trial):
        return trial.number % 2 == 1


def _build(inputs, n_outputs, *, width=16, depth=2):
    raise AssertionError("not built in these tests")


MODEL = merbench.ModelSpec(
    name="net", accepts=("spectrogram",), build=_build,
    search_space={"width": IntDistribution(8, 64), "depth": IntDistribution(1, 4)},
)  # fmt: skip
MEL = merbench.FrontEndSpec(
    name="mel", output="spectrogram", build=lambda sample_rate, n_mels=64: None,
    search_space={"n_mels": IntDistribution(32, 128)},
)  # fmt: skip


def test_candidate_space_namespaces_frontends_and_adds_the_optimiser():
    space = candidate_space(MODEL, [MEL])
    assert set(space) == {"width", "depth", "lr", "weight_decay", "mel.n_mels"}
    model_params, frontend_params = split_params({"width": 8, "lr": 0.01, "mel.n_mels": 40}, [MEL])
    assert model_params == {"width": 8, "lr": 0.01}
    assert frontend_params == [{"n_mels": 40}]


def test_defaults_come_from_the_builders_when_inside_the_space():
    space = candidate_space(MODEL, [MEL])
    defaults = default_params(space, {"": MODEL.build, "mel.": MEL.build})
    assert defaults == {"width": 16, "depth": 2, "mel.n_mels": 64}


def test_first_trial_uses_defaults_and_pruned_trials_are_recorded():
    space = {"x": FloatDistribution(0.0, 1.0)}

    def objective(trial, params):
        for epoch in range(3):
            trial.report(params["x"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return params["x"]

    study = make_study(0, pruner=EveryOtherPruner())
    tuned = tune(study, space, n_trials=4, objective=objective, defaults={"x": 0.25})
    states = [t["state"] for t in tuned.trials]
    assert states == ["complete", "pruned", "complete", "pruned"]
    assert tuned.trials[0]["params"] == {"x": 0.25}
    assert tuned.best_value == max(t["value"] for t in tuned.trials if t["state"] == "complete")


def test_nothing_to_tune_means_one_trial():
    tuned = tune(make_study(0), {}, n_trials=5, objective=lambda trial, params: 0.5)
    assert len(tuned.trials) == 1 and tuned.best_params == {}


def test_diverging_trials_fail_and_all_failed_is_a_cell_error():
    def objective(trial, params):
        raise NonFiniteLoss("training loss became nan; lower the learning rate")

    with pytest.raises(CellError, match=r"no trial finished \(training loss became nan"):
        tune(make_study(0), {"x": FloatDistribution(0, 1)}, n_trials=2, objective=objective)


def test_same_seed_same_trials():
    space = {"x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(0.0, 1.0)}

    def run():
        tuned = tune(make_study(7), space, n_trials=5, objective=lambda t, p: p["x"] - p["y"])
        return [t["params"] for t in tuned.trials]

    assert run() == run()


def test_random_start_up_fits_the_budget():
    from merbench.train.tuning import startup_trials

    assert [startup_trials(n) for n in (1, 2, 4, 6, 30, None)] == [1, 1, 2, 3, 10, 10]
    assert make_study(0, n_trials=4).sampler._n_startup_trials == 2
    assert make_study(0).sampler._n_startup_trials == 10  # Optuna's own default


def test_a_small_budget_gets_tpe_proposals():
    # Four trials: the defaults, one random draw, then two TPE proposals; with Optuna's default
    # start-up all three after the defaults would be random draws.
    space = {"x": FloatDistribution(0, 1)}

    def proposals(n_trials):
        study = make_study(3, n_trials=n_trials)
        tune(study, space, n_trials=4, objective=lambda t, p: -abs(p["x"] - 0.3),
             defaults={"x": 0.3})  # fmt: skip
        return [t.params["x"] for t in study.trials]

    random_only, fitted = proposals(None), proposals(4)
    assert fitted[:2] == random_only[:2]
    assert all(a != b for a, b in zip(fitted[2:], random_only[2:], strict=True))
