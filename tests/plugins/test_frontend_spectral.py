"""Fixed spectral front-ends: shapes, pinned definitions, peaks in the right bins, lazy torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from merbench.plugin.registry import load_registry
from merbench.testing import tone
from merbench_plugins.frontends import spectral

SR = 16000


@pytest.fixture
def a440():
    return torch.from_numpy(tone(2.0, SR, frequency=440.0)).reshape(1, 1, -1)


def test_shapes_of_every_frontend(a440):
    stereo = a440.repeat(3, 2, 1)  # [3, 2, T]: channels are averaged
    frames = 2 * SR // spectral.HOP + 1
    assert spectral.build_raw(SR)(stereo).shape == (3, 1, 2 * SR)
    assert spectral.build_stft(SR)(stereo).shape == (3, 1, spectral.N_FFT // 2 + 1, frames)
    assert spectral.build_mel(SR, n_mels=48)(stereo).shape == (3, 1, 48, frames)
    assert spectral.build_mfcc(SR, n_mfcc=13)(stereo).shape == (3, 1, 13, frames)
    assert spectral.build_cqt(SR)(stereo).shape == (3, 1, 84, frames)
    assert spectral.build_cqt(SR, bins_per_octave=24, hop_length=256)(stereo).shape == (
        3, 1, 168, 2 * SR // 256 + 1,
    )  # fmt: skip


def test_a_440_hz_tone_peaks_in_the_right_bins(a440):
    stft = spectral.build_stft(SR)(a440)[0, 0].mean(dim=1)
    assert int(stft.argmax()) == round(440 * spectral.N_FFT / SR)
    mel = spectral.build_mel(SR, n_mels=64)(a440)[0, 0].mean(dim=1)
    centres = torch.linspace(0, 2595 * np.log10(1 + (SR / 2) / 700), 66)[1:-1]
    hz = 700 * (10 ** (centres / 2595) - 1)
    assert abs(float(hz[int(mel.argmax())]) - 440) < 60
    cqt = spectral.build_cqt(SR)(a440)[0, 0].mean(dim=1)
    assert int(cqt.argmax()) == 45  # A4 is 45 semitones above C1
    cqt24 = spectral.build_cqt(SR, bins_per_octave=24)(a440)[0, 0].mean(dim=1)
    assert int(cqt24.argmax()) == 90


def test_cqt_refuses_a_hop_its_octaves_cannot_divide():
    with pytest.raises(ValueError, match="hop_length 100 is not a multiple of 64"):
        spectral.build_cqt(SR, hop_length=100)


def test_log_compression_is_finite_on_silence():
    silence = torch.zeros(1, 1, SR)
    for build in (spectral.build_stft, spectral.build_mel, spectral.build_cqt):
        output = build(SR)(silence)
        assert float(output.min()) == pytest.approx(-100.0)  # the 1e-10 floor, in dB
    assert torch.isfinite(spectral.build_mfcc(SR)(silence)).all()


def test_cached_and_in_graph_outputs_are_identical(a440):
    mel = spectral.build_mel(SR)
    with torch.inference_mode():
        cached = mel(a440)
    assert torch.equal(mel(a440), cached)


def test_no_trainable_parameters():
    for build in (spectral.build_stft, spectral.build_mel, spectral.build_mfcc, spectral.build_cqt):
        assert not [p for p in build(SR).parameters() if p.requires_grad]


def test_hook_yields_valid_specs():
    registry = load_registry(plugins=[spectral], entry_points=False)
    assert registry.failures == []
    assert registry.names("frontend") == ["cqt", "mel", "mfcc", "raw", "stft"]
    assert registry.frontend("raw").output == "waveform"


def test_module_imports_without_torch():
    code = (
        "import sys, merbench_plugins.frontends.spectral; "
        "print('torch' in sys.modules, 'nnAudio' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
