"""cnn1d: shapes over clip lengths, every kernel set, gradients, a fit that beats the mean."""

from __future__ import annotations

import pytest
from model_checks import (
    fit_errors,
    gradients_are_finite,
    imports_without_torch,
    loudness_pitch_clips,
    output_shapes,
    passes_contract,
)

from merbench.plugin.specs import InputShape
from merbench_plugins.models import cnn1d


def test_passes_the_contract_kit():
    passes_contract(cnn1d)


def test_discovery_does_not_import_torch():
    imports_without_torch("merbench_plugins.models.cnn1d")


@pytest.mark.parametrize(
    "params",
    [{}, {"kernels": "3", "stem_stride": 9, "depth": 4}, {"kernels": "3-9", "width": 16}],
    ids=["defaults", "one-kernel", "two-kernels"],
)
def test_any_clip_length_gives_one_row_per_clip(params):
    lengths = [[("waveform", (1, t))] for t in (500, 8000, 16001)]
    assert output_shapes(cnn1d.build, lengths, params) == [(3, 4)] * 3


def test_channels_follow_the_input_and_the_kernel_set():
    net = cnn1d.build((InputShape(kind="waveform", shape=(2, 4000)),), 2,
                      width=8, depth=3, kernels="3-5-9")  # fmt: skip
    block = net[0][-1]
    assert len(block.branches) == 3
    assert [b.kernel_size[0] for b in block.branches] == [3, 5, 9]
    assert net[0][1].in_channels == 2 and net[0][1].stride == (27,)
    assert net[-1][-1].in_features == 2 * 3 * 8 * 4  # avg+max of 3 branches of 4x width


def test_gradients_are_finite():
    assert gradients_are_finite(cnn1d.build, [("waveform", (1, 4000))], {})


def test_learns_loudness_and_pitch_better_than_the_mean():
    spec = next(iter(cnn1d.merbench_models()))
    train = loudness_pitch_clips(64, 2000, seed=0)
    test = loudness_pitch_clips(32, 2000, seed=1)
    model_error, mean_error = fit_errors(
        spec, {"depth": 3, "stem_stride": 9}, ([train[0]], train[1]), ([test[0]], test[1]),
        epochs=15,
    )  # fmt: skip
    assert (model_error < 0.3 * mean_error).all()  # arousal and valence both learnt
