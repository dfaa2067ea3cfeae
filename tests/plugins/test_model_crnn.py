"""crnn: shapes over spectrogram sizes, cells and poolings, gradients, a fit that beats the mean."""

from __future__ import annotations

import pytest
import torch
from model_checks import (
    band_spectrograms,
    fit_errors,
    gradients_are_finite,
    imports_without_torch,
    output_shapes,
    passes_contract,
)

from merbench.plugin.specs import InputShape
from merbench_plugins.models import crnn


def test_passes_the_contract_kit():
    passes_contract(crnn)


def test_discovery_does_not_import_torch():
    imports_without_torch("merbench_plugins.models.crnn")


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("pooling", ["attention", "mean", "last"])
def test_any_spectrogram_size_gives_one_row_per_clip(cell, pooling):
    sizes = [[("spectrogram", (1, f, t))] for f, t in ((16, 1), (48, 30), (33, 101))]
    params = {"cell": cell, "pooling": pooling, "width": 4, "hidden": 8}
    assert output_shapes(crnn.build, sizes, params) == [(3, 4)] * 3


def test_recurrent_input_is_channels_times_remaining_bins():
    net = crnn.build((InputShape(kind="spectrogram", shape=(2, 64, 50)),), 2, width=8, depth=3,
                     cell="lstm", bidirectional=False)  # fmt: skip
    recurrent = net[-2]
    assert isinstance(recurrent.rnn, torch.nn.LSTM)
    assert recurrent.rnn.input_size == 16 * 8  # 2x width, 64 bins halved three times
    maps = net[:-3](torch.randn(1, 2, 64, 50))
    assert maps.shape == (1, 16, 8, 13)  # time halved by the first two blocks only


def test_gradients_are_finite():
    assert gradients_are_finite(crnn.build, [("spectrogram", (1, 32, 40))], {"cell": "lstm"})


def test_learns_band_level_and_position_better_than_the_mean():
    spec = next(iter(crnn.merbench_models()))
    train, test = band_spectrograms(64, 24, 16, seed=0), band_spectrograms(32, 24, 16, seed=1)
    model_error, mean_error = fit_errors(
        spec, {"width": 8, "hidden": 16}, ([train[0]], train[1]), ([test[0]], test[1]), epochs=15
    )
    assert (model_error < 0.3 * mean_error).all()  # arousal and valence both learnt
