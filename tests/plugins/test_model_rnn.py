"""lstm and gru: shapes over sequence lengths and poolings, gradients, fits that beat the mean."""

from __future__ import annotations

import pytest
import torch
from model_checks import (
    feature_sequences,
    fit_errors,
    gradients_are_finite,
    imports_without_torch,
    output_shapes,
    passes_contract,
)

from merbench.plugin.specs import InputShape
from merbench_plugins.models import rnn

BUILDS = {"lstm": rnn.build_lstm, "gru": rnn.build_gru}


def test_passes_the_contract_kit():
    passes_contract(rnn)


def test_yields_lstm_and_gru_on_frames():
    specs = {spec.name: spec for spec in rnn.merbench_models()}
    assert set(specs) == {"lstm", "gru"}
    assert all(
        s.accepts == ("sequence",) and s.default_frontends == ("frames",) for s in specs.values()
    )


def test_discovery_does_not_import_torch():
    imports_without_torch("merbench_plugins.models.rnn")


@pytest.mark.parametrize("name", BUILDS)
@pytest.mark.parametrize("pooling", rnn.POOLINGS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_any_sequence_length_gives_one_row_per_clip(name, pooling, bidirectional):
    lengths = [[("sequence", (t, 7))] for t in (1, 9, 40)]
    params = {"pooling": pooling, "bidirectional": bidirectional, "layers": 2, "hidden": 8}
    assert output_shapes(BUILDS[name], lengths, params) == [(3, 4)] * 3


@pytest.mark.parametrize("name", BUILDS)
def test_the_cell_is_the_named_one(name):
    net = BUILDS[name]((InputShape(kind="sequence", shape=(10, 5)),), 2, hidden=8)
    assert type(net[1].rnn) is {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[name]
    assert net[1].rnn.input_size == 5 and net[1].rnn.bidirectional


def test_last_state_pooling_reads_the_end_of_the_sequence():
    torch.manual_seed(0)
    net = rnn.build_gru((InputShape(kind="sequence", shape=(12, 3)),), 2, pooling="last",
                        bidirectional=False, dropout=0.0).eval()  # fmt: skip
    x = torch.randn(2, 12, 3)
    changed = x.clone()
    changed[:, -1] += 5.0
    assert not torch.allclose(net(x), net(changed))


@pytest.mark.parametrize("name", BUILDS)
def test_gradients_are_finite(name):
    assert gradients_are_finite(BUILDS[name], [("sequence", (20, 6))], {"layers": 2})


@pytest.mark.parametrize("name", BUILDS)
def test_learns_features_on_unrelated_scales_better_than_the_mean(name):
    spec = next(s for s in rnn.merbench_models() if s.name == name)
    train, test = feature_sequences(64, 16, 6, seed=0), feature_sequences(32, 16, 6, seed=1)
    model_error, mean_error = fit_errors(
        spec, {"hidden": 16}, ([train[0]], train[1]), ([test[0]], test[1]), epochs=40
    )
    assert (model_error < 0.3 * mean_error).all()  # arousal and valence both learnt
