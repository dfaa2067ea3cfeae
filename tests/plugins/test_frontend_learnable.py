"""Trainable nnAudio front-ends: equal to their fixed twins at initialisation, and they learn."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from merbench.plugin.registry import load_registry
from merbench.testing import tone
from merbench_plugins.frontends import learnable, spectral

SR = 16000

# (learnable, fixed, parameters, tolerance in dB); see learnable.py for why stft and mel differ
TWINS = [
    (learnable.build_learnable_stft, spectral.build_stft, {}, 0.05),
    (learnable.build_learnable_stft, spectral.build_stft, {"hop_length": 256}, 0.05),
    (learnable.build_learnable_mel, spectral.build_mel, {}, 0.005),
    (learnable.build_learnable_mel, spectral.build_mel, {"n_mels": 96, "hop_length": 256}, 0.005),
    (learnable.build_learnable_cqt, spectral.build_cqt, {}, 0.0),
    (learnable.build_learnable_cqt, spectral.build_cqt, {"bins_per_octave": 24}, 0.0),
]
IDS = ["stft", "stft-hop256", "mel", "mel-96-hop256", "cqt", "cqt-24"]


@pytest.fixture
def a440():
    return torch.from_numpy(tone(2.0, SR, frequency=440.0)).reshape(1, 1, -1).repeat(2, 1, 1)


@pytest.mark.parametrize(("build", "build_fixed", "params", "tolerance"), TWINS, ids=IDS)
def test_twin_equals_the_fixed_frontend_at_initialisation(
    build, build_fixed, params, tolerance, a440
):
    with torch.no_grad():
        learned = build(SR, **params)(a440)
    fixed = build_fixed(SR, **params)(a440)
    assert learned.shape == fixed.shape
    assert float((learned - fixed).abs().max()) <= tolerance
    assert float(fixed.max() - fixed.min()) > 40  # the tone is not a flat spectrum


@pytest.mark.parametrize(
    "build",
    [learnable.build_learnable_stft, learnable.build_learnable_mel, learnable.build_learnable_cqt],
    ids=["stft", "mel", "cqt"],
)
def test_one_optimiser_step_changes_the_frontend(build, a440):
    frontend = build(SR)
    parameters = list(frontend.parameters())
    assert parameters and all(p.requires_grad for p in parameters)
    before = [p.detach().clone() for p in parameters]
    output_before = frontend(a440).detach()
    optimiser = torch.optim.SGD(frontend.parameters(), lr=1e-3)
    frontend(a440).mean().backward()
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in parameters)
    optimiser.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, parameters, strict=True))
    assert not torch.equal(frontend(a440).detach(), output_before)


def test_mel_trains_only_the_filterbank_when_asked(a440):
    frontend = learnable.build_learnable_mel(SR, train_stft=False)
    trainable = [name for name, p in frontend.named_parameters() if p.requires_grad]
    assert [name.rsplit(".", 1)[-1] for name in trainable] == ["mel_basis"]


def test_silence_floors_at_minus_100_db_with_finite_gradients():
    silence = torch.zeros(1, 1, SR)
    for build in (learnable.build_learnable_stft, learnable.build_learnable_mel):
        frontend = build(SR)
        output = frontend(silence)
        assert float(output.detach().min()) == pytest.approx(-100.0)  # no 1e-8 under a sqrt
        output.sum().backward()
        assert all(bool(torch.isfinite(p.grad).all()) for p in frontend.parameters())


def test_a_negative_learned_mel_weight_cannot_make_the_log_undefined(a440):
    frontend = learnable.build_learnable_mel(SR)
    (mel_basis,) = [p for name, p in frontend.named_parameters() if name.endswith("mel_basis")]
    with torch.no_grad():
        mel_basis[10].fill_(-1.0)
        output = frontend(a440)
    assert bool(torch.isfinite(output).all())
    assert float(output[:, 0, 10].max()) == pytest.approx(-100.0)


def test_hook_yields_trainable_specs():
    registry = load_registry(plugins=[learnable], entry_points=False)
    assert registry.failures == []
    assert registry.names("frontend") == ["learnable-cqt", "learnable-mel", "learnable-stft"]
    for name, twin in [
        ("learnable-stft", "stft"),
        ("learnable-mel", "mel"),
        ("learnable-cqt", "cqt"),
    ]:
        spec = registry.frontend(name)
        assert spec.trainable and spec.output == "spectrogram"
        fixed = load_registry(plugins=[spectral], entry_points=False).frontend(twin)
        assert dict(spec.search_space) == dict(fixed.search_space)  # tuned over the same space


def test_module_imports_without_torch_or_nnaudio():
    code = (
        "import sys, merbench_plugins.frontends.learnable; "
        "print('torch' in sys.modules, 'nnAudio' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_each_twin_searches_the_same_space_as_its_fixed_front_end():
    frontends = load_registry().frontends
    for fixed in ("stft", "mel", "cqt"):
        twin = frontends[f"learnable-{fixed}"]
        assert twin.trainable and not frontends[fixed].trainable
        assert dict(twin.search_space) == dict(frontends[fixed].search_space)
