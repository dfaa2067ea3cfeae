"""hybrid and hybrid2d: two inputs fused, shapes, gradients, candidates, a fit using both."""

from __future__ import annotations

import pytest
import torch
from model_checks import (
    fit_errors,
    gradients_are_finite,
    imports_without_torch,
    loudness_clips_with_features,
    output_shapes,
    passes_contract,
)

from merbench.pipeline.candidates import check_candidate, parse_candidate
from merbench.plugin.registry import load_registry
from merbench.plugin.specs import InputShape
from merbench_plugins.frontends import handcrafted, spectral
from merbench_plugins.models import hybrid


def test_passes_the_contract_kit():
    passes_contract(hybrid)


def test_discovery_does_not_import_torch():
    imports_without_torch("merbench_plugins.models.hybrid")


@pytest.mark.parametrize("fusion", hybrid.FUSIONS)
def test_any_clip_length_gives_one_row_per_clip(fusion):
    waveforms = [[("waveform", (1, t)), ("vector", (12,))] for t in (300, 8000, 16001)]
    spectrograms = [[("spectrogram", (1, 40, t)), ("vector", (12,))] for t in (1, 30, 77)]
    params = {"fusion": fusion}
    assert output_shapes(hybrid.build, waveforms, params) == [(3, 4)] * 3
    assert output_shapes(hybrid.build_2d, spectrograms, params) == [(3, 4)] * 3


def test_gated_fusion_weighs_the_two_branches_per_unit():
    net = hybrid.build((InputShape(kind="waveform", shape=(1, 2000)),
                        InputShape(kind="vector", shape=(5,))), 2, feature_width=16)  # fmt: skip
    assert net.fusion.size == 16 and net.head[-1].in_features == 16
    torch.manual_seed(0)
    a, f = torch.randn(4, net.fusion.audio.in_features), torch.randn(4, 16)
    with torch.no_grad():
        net.fusion.gate.weight.zero_()
        net.fusion.gate.bias.fill_(50.0)  # gate open: the audio alone passes
        assert torch.allclose(net.fusion(a, f), torch.tanh(net.fusion.audio(a)))
        net.fusion.gate.bias.fill_(-50.0)  # gate shut: the features alone pass
        assert torch.allclose(net.fusion(a, f), torch.tanh(net.fusion.features(f)))


def test_concat_fusion_keeps_both_embeddings():
    net = hybrid.build_2d((InputShape(kind="spectrogram", shape=(1, 32, 20)),
                           InputShape(kind="vector", shape=(5,))), 3, width=8, fusion="concat",
                          feature_width=32)  # fmt: skip
    assert net.fusion.size == 2 * 32 + 32  # cnn2d's avg+max of 4x width, then the features


@pytest.mark.parametrize("name", ["build", "build_2d"])
def test_gradients_are_finite(name):
    audio = ("waveform", (1, 3000)) if name == "build" else ("spectrogram", (1, 24, 20))
    assert gradients_are_finite(getattr(hybrid, name), [audio, ("vector", (9,))], {})


def test_each_variant_accepts_its_own_audio_kind():
    registry = load_registry(plugins=[hybrid, spectral, handcrafted], entry_points=False)
    ok = ["hybrid@raw+handcrafted", "hybrid2d@mel+handcrafted", "hybrid2d@stft+handcrafted"]
    assert [check_candidate(parse_candidate(name), registry) for name in ok] == [""] * 3
    reason = check_candidate(parse_candidate("hybrid@mel+handcrafted"), registry)
    assert reason == "front-end 'mel' gives spectrogram but model 'hybrid' expects waveform there"


def test_learns_from_both_branches_better_than_the_mean():
    spec = next(s for s in hybrid.merbench_models() if s.name == "hybrid")
    clips, vectors, y = loudness_clips_with_features(64, 2000, 6, seed=0)
    test_clips, test_vectors, test_y = loudness_clips_with_features(32, 2000, 6, seed=1)
    model_error, mean_error = fit_errors(
        spec, {"depth": 3, "stem_stride": 9}, ([clips, vectors], y),
        ([test_clips, test_vectors], test_y), epochs=20,
    )  # fmt: skip
    # arousal lives only in the audio and valence only in the features: both branches count
    assert (model_error < 0.3 * mean_error).all()
