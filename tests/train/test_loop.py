"""The training loop every torch model shares: seeding, early stopping, the NaN guard, reports."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import merbench
from merbench.evaluation.tasks import get_task
from merbench.train.fit import NonFiniteLoss, pick_device
from merbench.train.loop import fit_torch
from tests.helpers.training import MODEL, _problem


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = np.stack([3 + 2 * x[:, 0], 5 - x[:, 1] + 0.5 * x[:, 2]], axis=1)
    return x, y


def _fit(problem=None, seed=0, **kwargs):
    x, y = _data()
    train, valid = slice(0, 72), slice(72, 96)
    kwargs.setdefault("valid", ([x[valid]], y[valid]))
    return fit_torch(
        MODEL,
        kwargs.pop("params", {"lr": 3e-3, "weight_decay": 1e-4}),
        ([x[train]], y[train]),
        problem or _problem(),
        seed=seed,
        trainables=[None],
        **kwargs,
    ), (x[valid], y[valid])


def test_same_seed_gives_identical_predictions_and_another_seed_does_not():
    first, (x, _) = _fit(seed=1)
    again, _ = _fit(seed=1)
    other, _ = _fit(seed=2)
    a, b, c = (f.predict([x], len(x)) for f in (first, again, other))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    assert first.history == again.history


def test_regression_learns_and_predicts_on_the_dataset_scale():
    fitted, (x, y) = _fit(
        problem=_problem(epochs=40, patience=40), params={"lr": 1e-2, "weight_decay": 0.0}
    )
    prediction = fitted.predict([x], len(x))
    assert prediction.shape == (len(x), 2)
    baseline = ((y - y.mean(axis=0)) ** 2).mean()
    assert ((prediction - y) ** 2).mean() < 0.3 * baseline
    assert abs(prediction[:, 0].mean() - y[:, 0].mean()) < 0.5  # unscaled, not z-scores


def test_every_epoch_is_reported_and_early_stopping_keeps_the_best_epoch():
    seen: list[tuple[int, float]] = []
    fitted, _ = _fit(
        problem=_problem(epochs=30, patience=2),
        params={"lr": 3e-2, "weight_decay": 0.0},
        report=lambda epoch, value: seen.append((epoch, value)),
    )
    epochs = [e for e, _ in seen]
    assert epochs == list(range(1, len(epochs) + 1))
    assert [v for _, v in seen] == fitted.history
    best = int(np.argmax(fitted.history)) + 1
    assert fitted.best_epoch == best
    if len(epochs) < 30:  # stopped early: exactly `patience` epochs without improvement
        assert len(epochs) - best == 2


def test_a_report_that_prunes_ends_training():
    class Pruned(Exception):
        pass

    def report(epoch, value):
        if epoch == 2:
            raise Pruned

    with pytest.raises(Pruned):
        _fit(report=report)


def test_a_diverging_loss_ends_the_trial_with_a_clear_error():
    with pytest.raises(NonFiniteLoss, match="lower the learning rate"):
        _fit(params={"lr": 1e-3, "weight_decay": 0.0, "scale": float("inf")})


def test_a_refit_trains_the_given_epochs_without_validation():
    fitted, _ = _fit(valid=None, epochs=3)
    assert fitted.best_epoch == 3 and fitted.history == []


def test_classification_predicts_labels_and_scores():
    x, y = _data()
    labels = np.where(y[:, 0] > 3, 2, 1)
    fitted = fit_torch(
        MODEL,
        {"lr": 1e-2},
        ([x[:72]], labels[:72]),
        _problem(task="arousal-binary", labels=(1, 2), epochs=20, patience=20),
        seed=0,
        trainables=[None],
        valid=([x[72:]], labels[72:]),
    )
    predicted = fitted.predict([x[72:]], 24)
    assert set(np.unique(predicted)) <= {1, 2}
    assert (predicted == labels[72:]).mean() > 0.8
    assert fitted.scores is not None and fitted.scores([x[72:]], 24).shape == (24, 2)


def test_cuda_is_picked_when_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == "cpu"


def test_bf16_autocast_trains_to_nearly_the_same_model():
    fp32, (x, _) = _fit(seed=3)
    bf16, _ = _fit(problem=dataclasses.replace(_problem(), precision="bf16"), seed=3)
    a, b = fp32.predict([x], len(x)), bf16.predict([x], len(x))
    assert b.dtype == np.float64 and np.isfinite(b).all()
    assert not np.array_equal(a, b)  # the arithmetic really changed
    assert np.corrcoef(a[:, 0], b[:, 0])[0, 1] > 0.95


def test_inputs_get_the_kind_the_model_declares():
    from merbench.train.torch_net import build_network

    seen = []

    def build(inputs, n_outputs):
        seen.extend(inputs)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(n_outputs))

    model = merbench.ModelSpec(name="seq", accepts=("sequence",), build=build)
    build_network(model, {}, [np.zeros((2, 30, 8), np.float32)], [None], _problem())
    assert seen == [merbench.InputShape(kind="sequence", shape=(30, 8))]


@pytest.mark.parametrize(
    ("task", "labels", "width", "expected"),
    [
        ("av-regression", (), 1, r"output of shape \[16, 1\], expected .* = \[16, 2\]"),
        ("quadrant", (1, 2, 3, 4), 6, r"output of shape \[16, 6\], expected .* = \[16, 4\]"),
    ],
    ids=["regression", "classification"],
)
def test_a_model_output_of_the_wrong_shape_fails_the_cell(task, labels, width, expected):
    def build(inputs, n_outputs):
        return torch.nn.Linear(inputs[0].shape[0], width)  # ignores n_outputs

    model = merbench.ModelSpec(name="narrow", accepts=("vector",), build=build)
    x, y = _data()
    if task != "av-regression":
        y = np.digitize(y[:, 0], [1, 3, 5]).astype(np.int64) + 1
    with pytest.raises(merbench.CellError, match=f"model 'narrow': {expected} for task '{task}'"):
        fit_torch(model, {}, ([x], y), _problem(task, labels), seed=0, trainables=[None])


def test_multilabel_trains_with_binary_cross_entropy_and_predicts_tag_probabilities():
    x, _ = _data()
    tags = np.stack([x[:, 0] > 0, x[:, 1] > 0.5, np.zeros(len(x), bool)], axis=1).astype(float)
    problem = dataclasses.replace(
        _problem(epochs=30, patience=30),
        task=get_task("mood-tags").with_tags(["calm", "epic", "never"]),
    )
    fitted = fit_torch(
        MODEL,
        {"lr": 1e-2},
        ([x[:72]], tags[:72]),
        problem,
        seed=0,
        trainables=[None],
        valid=([x[72:]], tags[72:]),
    )
    probabilities = fitted.predict([x[72:]], 24)
    assert probabilities.shape == (24, 3) and fitted.scores is None
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert probabilities[:, 2].max() < 0.5  # a tag no training track has
    assert fitted.valid_score is not None and fitted.valid_score > 0.8  # macro ROC-AUC
