"""Candidate names, parsing and `--models` expansion."""

from __future__ import annotations

import re
import types

import pytest

import merbench
from merbench.errors import ConfigError, PluginError
from merbench.pipeline.candidates import Candidate, expand_candidates, parse_candidate
from merbench.plugin.registry import load_registry


def _plugin():
    module = types.ModuleType("candidate_plugin")
    module.MERBENCH_PLUGIN_API = 1

    @merbench.hookimpl
    def merbench_models():
        yield merbench.ModelSpec(
            name="net", accepts=("spectrogram",), build=dict, default_frontends=("mel", "cqt")
        )
        yield merbench.ModelSpec(
            name="hybrid",
            accepts=("waveform", "vector"),
            build=dict,
            default_frontends=("raw+feats",),
        )
        yield merbench.ModelSpec(name="mean", accepts=(), family="sklearn", build=dict)

    @merbench.hookimpl
    def merbench_frontends():
        yield merbench.FrontEndSpec(name="mel", output="spectrogram", build=dict)
        yield merbench.FrontEndSpec(name="raw", output="waveform", build=dict)
        yield merbench.FrontEndSpec(name="feats", output="vector", build=dict)

    module.merbench_models = merbench_models
    module.merbench_frontends = merbench_frontends
    return load_registry(plugins=[module], entry_points=False)


@pytest.mark.parametrize(
    ("text", "candidate"),
    [
        ("mean", Candidate(model="mean")),
        ("cnn2d@mel", Candidate(model="cnn2d", frontends=("mel",))),
        ("hybrid@raw+handcrafted", Candidate(model="hybrid", frontends=("raw", "handcrafted"))),
        (
            "cnn1d@raw:gain+mixup",
            Candidate(model="cnn1d", frontends=("raw",), augmentations=("gain", "mixup")),
        ),
    ],
)
def test_parse_and_format_round_trip(text, candidate):
    assert parse_candidate(text) == candidate
    assert candidate.name == text


@pytest.mark.parametrize("text", ["cnn2d@", "cnn2d@mel+", "@mel", "cnn2d@mel:", "cnn2d@mel:a+"])
def test_malformed_candidates_are_rejected(text):
    with pytest.raises(ConfigError, match="is malformed"):
        parse_candidate(text)


def test_all_expands_default_frontends_and_reports_unavailable_ones():
    registry = _plugin()
    runnable, unavailable = expand_candidates(["all"], registry)
    assert [c.name for c in runnable] == ["hybrid@raw+feats", "mean", "net@mel"]
    assert [(u.name, u.reason) for u in unavailable] == [("net@cqt", "unknown front-end 'cqt'.")]


def test_explicit_candidate_and_kind_mismatch():
    registry = _plugin()
    runnable, unavailable = expand_candidates(["net@feats", "hybrid@raw+feats", "mean"], registry)
    assert [c.name for c in runnable] == ["hybrid@raw+feats", "mean"]
    assert (
        unavailable[0].reason
        == "front-end 'feats' gives vector but model 'net' expects spectrogram there"
    )


def test_wrong_number_of_frontends():
    registry = _plugin()
    _, unavailable = expand_candidates(["hybrid@raw"], registry)
    assert "takes 2 input(s) (waveform, vector); 'hybrid@raw' gives 1" in unavailable[0].reason


def test_unknown_model_suggests():
    registry = _plugin()
    with pytest.raises(PluginError, match=re.escape("Unknown model 'nett'. Did you mean 'net'?")):
        expand_candidates(["nett"], registry)


def test_duplicates_are_removed_in_order():
    registry = _plugin()
    runnable, _ = expand_candidates(["mean", "all", "mean"], registry)
    assert [c.name for c in runnable] == ["mean", "hybrid@raw+feats", "net@mel"]


def test_default_augmentations_run_beside_the_plain_candidate():
    module = types.ModuleType("augmented_defaults")
    module.MERBENCH_PLUGIN_API = 1

    @merbench.hookimpl
    def merbench_models():
        yield merbench.ModelSpec(
            name="net",
            accepts=("spectrogram",),
            build=dict,
            default_frontends=("mel",),
            default_augmentations=("mask", "mask+mix", "nosuch"),
        )

    @merbench.hookimpl
    def merbench_frontends():
        yield merbench.FrontEndSpec(name="mel", output="spectrogram", build=dict)

    @merbench.hookimpl
    def merbench_augmentations():
        yield merbench.AugmentationSpec(
            name="mask", stage="spectrogram", labels="preserve", build=dict
        )
        yield merbench.AugmentationSpec(name="mix", stage="batch", labels="mix", build=dict)

    module.merbench_models = merbench_models
    module.merbench_frontends = merbench_frontends
    module.merbench_augmentations = merbench_augmentations
    registry = load_registry(plugins=[module], entry_points=False)
    for selector in ("all", "net"):
        runnable, unavailable = expand_candidates([selector], registry)
        assert [c.name for c in runnable] == ["net@mel", "net@mel:mask", "net@mel:mask+mix"]
        assert [u.name for u in unavailable] == ["net@mel:nosuch"]
    runnable, _ = expand_candidates(["net@mel"], registry)
    assert [c.name for c in runnable] == ["net@mel"]
