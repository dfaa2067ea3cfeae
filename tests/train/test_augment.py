"""Augmentation: training batches only, seeded per example and epoch, labels mixed right."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
import torch

import merbench
from merbench.data.audio import AudioSettings, AudioStore
from merbench.data.features import FeatureStore
from merbench.data.tracks import Tracks
from merbench.errors import ConfigError
from merbench.evaluation.budgets import BUDGETS
from merbench.evaluation.cv import Fold, inner_split
from merbench.evaluation.tasks import get_task
from merbench.pipeline.candidates import Candidate, add_policies, check_candidate, parse_candidate
from merbench.pipeline.cell import CellPlan, run_cell
from merbench.pipeline.fitting import CandidateFit
from merbench.plugin.registry import load_registry
from merbench.results.schema import CellKey
from merbench.testing import write_tone_dataset
from merbench.train.fit import Problem
from merbench.train.policy import N_COPIES, make_policy, tunable
from merbench.train.prerender import render_copies
from merbench.train.seeds import augment_waveform, sample_rng, seeded
from merbench.train.tuning import candidate_space, split_params
from tests.helpers.training import _failures

RATE = 16000


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    rows = write_tone_dataset(tmp_path_factory.mktemp("tones"), n_tracks=18, n_groups=6)
    spec = merbench.DatasetSpec(
        name="tones",
        load=lambda root: None,
        tasks=("av-regression", "quadrant"),
        label_scale=merbench.LabelScale(low=1, high=9),
    )
    return Tracks(name="tones", spec=spec, table=pd.DataFrame(rows))


@pytest.fixture
def features(tmp_path):
    return FeatureStore(AudioStore(AudioSettings(sample_rate=RATE, seconds=1.0)), tmp_path)


def _fold(n=18):
    rows = np.arange(n)
    return Fold(repeat=0, fold=0, train=rows[rows % 6 != 0], test=rows[rows % 6 == 0])


def _plan(tones, registry, name, augmentations, *, seed=3, task="av-regression", mode="auto"):
    candidate = parse_candidate(name)
    labels = () if task == "av-regression" else (1, 2, 3, 4)
    return CellPlan(
        key=CellKey(dataset="tones", task=task, candidate=name, repeat=0, fold=0),
        tracks=tones,
        candidate=candidate,
        model=registry.model(candidate.model),
        frontends=tuple(registry.frontend(f) for f in candidate.frontends),
        fold=_fold(len(tones.table)),
        problem=Problem(
            task=get_task(task), labels=labels, budget=BUDGETS["smoke"], sample_rate=RATE
        ),
        seed=seed,
        augmentations=tuple(augmentations),
        augment_mode=mode,
    )


class Spy:
    """Augmentation records that remember, per fit (per build), the examples they were given."""

    def __init__(self):
        self.fits: list[list[bytes]] = []

    def _new_fit(self):
        self.fits.append([])
        return self.fits[-1]

    def waveform(self):
        def build(sample_rate):
            seen = self._new_fit()

            def spy(x, rng):
                seen.append(np.ascontiguousarray(x).tobytes())
                return x

            return spy

        return merbench.AugmentationSpec(
            name="spy-wave", stage="waveform", labels="preserve", build=build
        )

    def spectrogram(self):
        def build(sample_rate):
            seen = self._new_fit()

            def spy(x, rng):
                seen.append(x.detach().contiguous().numpy().tobytes())
                return x

            return spy

        return merbench.AugmentationSpec(
            name="spy-spec", stage="spectrogram", labels="preserve", build=build
        )

    def batch(self):
        def build(sample_rate):
            seen = self._new_fit()

            def spy(xs, y, rng):
                seen.extend(x.detach().contiguous().numpy().tobytes() for x in xs[0])
                return xs, y

            return spy

        return merbench.AugmentationSpec(
            name="spy-batch", stage="batch", labels="preserve", build=build
        )


def _rows_seen(seen, reference):
    lookup = {np.ascontiguousarray(row).tobytes(): i for i, row in enumerate(reference)}
    assert all(item in lookup for item in seen), "the spy saw an example that is no track"
    return {lookup[item] for item in seen}


def _expected_fits(plan, result):
    """The training rows of each fit of a cell: every tuning trial, the refit, then the default
    configuration's refit unless it was the tuned one."""
    groups = plan.tracks.table["group"].to_numpy()
    train = plan.fold.train
    inner, _ = inner_split(
        groups[train], valid_fraction=plan.problem.budget.valid_fraction, seed=plan.seed
    )
    refits = 1 if result.info["default"]["same_as_tuned"] else 2
    return [set(train[inner])] * plan.problem.budget.trials + [set(train)] * refits


def test_waveform_augmentation_sees_only_the_training_rows_of_each_fit(tones, features, registry):
    spy = Spy()
    plan = _plan(tones, registry, "cnn2d@mel:spy-wave", [spy.waveform()])
    result = run_cell(plan, features)
    seen = spy.fits[:-1]  # the last build only describes the policy in the cell's info
    waveforms = features.waveforms(tones)
    assert [_rows_seen(s, waveforms) for s in seen] == _expected_fits(plan, result)
    assert not set().union(*(_rows_seen(s, waveforms) for s in seen)) & set(plan.fold.test)


def test_spectrogram_and_batch_augmentation_see_only_training_rows(tones, features, registry):
    spy = Spy()
    plan = _plan(tones, registry, "cnn2d@mel:spy-spec+spy-batch", [spy.spectrogram(), spy.batch()])
    result = run_cell(plan, features)
    mel = registry.frontend("mel")
    # Trials tune the mel parameters: look the examples up among every setting's features.
    settings = [{"n_mels": m, "hop_length": h} for m in (48, 64, 96) for h in (256, 512)]
    cached = [row for params in settings for row in features.features(tones, mel, params)]
    rows = len(tones.table)
    fits = _expected_fits(plan, result)
    spectrogram_fits, batch_fits = spy.fits[0:-2:2], spy.fits[1:-2:2]  # built in policy order
    assert [{r % rows for r in _rows_seen(s, cached)} for s in spectrogram_fits] == fits
    assert [{r % rows for r in _rows_seen(s, cached)} for s in batch_fits] == fits


def test_same_seed_augments_identically_and_another_seed_differently(tones, features, registry):
    recorded = {}

    def recording(name, stage):
        inner = registry.augmentation(name)

        def build(sample_rate, **params):
            transform = inner.build(sample_rate, **params)
            seen = recorded.setdefault(len(recorded), [])

            def record(x, rng):
                out = transform(x, rng)
                seen.append(np.asarray(out.numpy() if torch.is_tensor(out) else out).copy())
                return out

            return record

        return merbench.AugmentationSpec(
            name=f"rec-{name}", stage=stage, labels="preserve", build=build
        )

    specs = [recording("noise", "waveform")]

    def fit(seed):
        before = len(recorded)
        plan = _plan(tones, registry, "cnn2d@mel:rec-noise", specs, seed=seed)
        CandidateFit(plan, features).fit({}, plan.fold.train, epochs=2)
        return np.concatenate([np.ravel(a) for key in range(before, len(recorded))
                               for a in recorded[key]])  # fmt: skip

    first, again, other = fit(5), fit(5), fit(6)
    assert first.shape == again.shape and np.array_equal(first, again)
    assert first.shape == other.shape and not np.array_equal(first, other)


def test_seeded_calls_repeat_and_leave_the_global_generators_alone(registry):
    policy = make_policy(
        [registry.augmentation(n) for n in ("gain", "noise", "polarity")],
        {"gain.p": 1.0},
        sample_rate=RATE,
    )
    x = np.random.default_rng(0).normal(size=(1, RATE)).astype(np.float32)
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    expected = (random.random(), np.random.random(), torch.rand(1).item())
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    a = augment_waveform(x, policy.live_waveform, sample_rng(1, 2, 3))
    b = augment_waveform(x, policy.live_waveform, sample_rng(1, 2, 3))
    c = augment_waveform(x, policy.live_waveform, sample_rng(1, 3, 3))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert (random.random(), np.random.random(), torch.rand(1).item()) == expected


def test_seeded_context_seeds_global_generators_from_the_generator():
    with seeded(np.random.default_rng(4)):
        first = (random.random(), np.random.random(), torch.rand(1).item())
    with seeded(np.random.default_rng(4)):
        again = (random.random(), np.random.random(), torch.rand(1).item())
    assert first == again


def _mix(registry, y, seed=0):
    transform = registry.augmentation("mixup").build(RATE, alpha=0.4)
    x = torch.as_tensor(y, dtype=torch.float32)[:, :1].reshape(-1, 1, 1, 1).repeat(1, 1, 3, 5)
    return transform([x], torch.as_tensor(y, dtype=torch.float32), np.random.default_rng(seed))


def test_mixup_mixes_regression_targets_with_the_inputs_lambda(registry):
    y = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0], [8.0, 80.0], [16.0, 160.0]])
    (x,), mixed = _mix(registry, y)
    # Each mixed example is lam * a + (1 - lam) * b of two rows; x carries column 0 of y.
    assert torch.allclose(x[:, 0, 0, 0], mixed[:, 0])
    lam = float(np.random.default_rng(0).beta(0.4, 0.4))
    pairs = np.random.default_rng(0)
    pairs.beta(0.4, 0.4)
    j = pairs.permutation(len(y))
    expected = lam * y + (1 - lam) * y[j]
    assert np.allclose(mixed.numpy(), expected, atol=1e-5)
    assert np.allclose(x[:, 0, 0, 0].numpy(), expected[:, 0], atol=1e-5)


def test_mixup_gives_soft_class_labels_that_sum_to_one(registry):
    one_hot = np.eye(4)[[0, 1, 2, 3, 1, 0]]
    (_,), soft = _mix(registry, one_hot, seed=3)
    assert torch.allclose(soft.sum(dim=1), torch.ones(6))
    assert (soft >= 0).all() and (soft.max(dim=1).values < 1).any()


def test_mixup_trains_a_classifier_on_soft_labels(tones, features, registry):
    plan = _plan(tones, registry, "cnn2d@mel:mixup", [registry.augmentation("mixup")],
                 task="quadrant")  # fmt: skip
    result = run_cell(plan, features)
    assert 0.0 <= result.metrics["accuracy"] <= 1.0
    assert result.info["augmentation"]["policy"] == "mixup"
    assert all("mixup.alpha" in trial["params"] for trial in result.trials)  # tuned by Optuna


def test_class_targets_reach_batch_augmentations_as_one_hot_soft_labels(tones, features, registry):
    targets = []

    def build(sample_rate):
        def spy(xs, y, rng):
            targets.append(y.clone())
            return xs, y

        return spy

    spy = merbench.AugmentationSpec(name="spy-y", stage="batch", labels="preserve", build=build)
    plan = _plan(tones, registry, "cnn2d@mel:spy-y", [spy], task="quadrant")
    y = tones.targets(plan.problem.task)
    CandidateFit(plan, features).fit({}, plan.fold.train, epochs=1)
    seen = torch.cat(targets)
    assert seen.shape == (len(plan.fold.train), 4) and seen.dtype == torch.float32
    assert torch.equal(seen.sum(dim=1), torch.ones(len(seen)))
    assert set(seen.unique().tolist()) == {0.0, 1.0}
    counts = seen.sum(dim=0).numpy()
    expected = [int((y[plan.fold.train] == label).sum()) for label in (1, 2, 3, 4)]
    assert counts.tolist() == expected


def test_candidate_checks_refuse_policies_that_cannot_apply(registry):
    def reason(name):
        return check_candidate(parse_candidate(name), registry)

    assert reason("cnn2d@mel:specaugment+gain") == ""
    assert "scikit-learn model" in reason("ridge@handcrafted:gain")
    assert "drop ':gain'" in reason("ridge@handcrafted:gain")
    assert "masks spectrograms" in reason("cnn1d@raw:specaugment")
    assert "appears twice" in reason("cnn2d@mel:gain+gain")
    assert "Did you mean 'specaugment'" in reason("cnn2d@mel:specaugmnet")


def test_models_may_name_an_augmented_candidate_directly(registry):
    from merbench.pipeline.candidates import expand_candidates

    runnable, unavailable = expand_candidates(
        ["cnn2d@mel:specaugment", "ridge@handcrafted:gain"], registry
    )
    assert [c.name for c in runnable] == ["cnn2d@mel:specaugment"]
    assert [u.name for u in unavailable] == ["ridge@handcrafted:gain"]
    assert "augmentations train torch models only" in unavailable[0].reason


def test_cli_refuses_an_unknown_policy_before_any_work(install_tones, tmp_path):
    from click.testing import CliRunner

    from merbench.cli import main

    config = install_tones()
    args = ["run", "--models", "cnn2d@mel", "--augment", "specaugment,gian", "--budget", "smoke",
            "--config", str(config), "--out", str(tmp_path / "run")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "unknown augmentation 'gian'. Did you mean 'gain'?" in result.output
    assert not (tmp_path / "run" / "results.sqlite").exists()


def test_augment_option_adds_policies_beside_plain_torch_candidates_only(registry):
    plain = [
        Candidate(model="cnn2d", frontends=("mel",)),
        Candidate(model="cnn1d", frontends=("raw",)),
        Candidate(model="ridge", frontends=("handcrafted",)),
    ]
    names = [c.name for c in add_policies(plain, ["specaugment", "gain+mixup"], registry)]
    assert names == [
        "cnn2d@mel",
        "cnn1d@raw",
        "ridge@handcrafted",
        "cnn2d@mel:specaugment",
        "cnn2d@mel:gain+mixup",
        "cnn1d@raw:gain+mixup",
    ]
    with pytest.raises(ConfigError, match=r"unknown augmentation 'gian'\. Did you mean 'gain'"):
        add_policies(plain, ["gian"], registry)
    with pytest.raises(ConfigError, match="fits none of the selected candidates"):
        add_policies(plain[1:], ["specaugment"], registry)


def test_search_space_namespaces_augmentations_and_skips_pre_rendered_ones(registry):
    model, mel = registry.model("cnn2d"), registry.frontend("mel")
    specs = [registry.augmentation(n) for n in ("specaugment", "pitch")]
    space = candidate_space(model, [mel], tunable(specs))
    assert {"specaugment.time_mask", "specaugment.freq_mask", "mel.n_mels"} <= set(space)
    assert "pitch.semitones" not in space  # pre-rendered with its default strength
    assert "pitch.semitones" in candidate_space(model, [mel], tunable(specs, "on-the-fly"))
    params = {"width": 8, "mel.n_mels": 48, "specaugment.time_mask": 9, "pitch.semitones": 1.5}
    model_params, per_frontend = split_params(params, [mel], specs)
    assert model_params == {"width": 8} and per_frontend == [{"n_mels": 48}]


def test_pre_rendered_copies_are_cached_and_independent_of_track_order(registry):
    policy = make_policy([registry.augmentation("pitch")], {}, sample_rate=RATE)
    rng = np.random.default_rng(0)
    clips = rng.normal(scale=0.1, size=(3, 1, RATE // 2)).astype(np.float32)
    ids = ["a", "b", "c"]
    copies, key = render_copies(clips, ids, policy.prerendered, seed=1, key={"clips": "x"})
    assert copies.shape == (3, N_COPIES, 1, RATE // 2)
    again, same_key = render_copies(clips, ids, policy.prerendered, seed=1, key={"clips": "x"})
    assert same_key == key and isinstance(again, np.memmap | np.ndarray)
    assert np.array_equal(np.asarray(again), np.asarray(copies))
    reordered, _ = render_copies(clips[::-1], ids[::-1], policy.prerendered, seed=1,
                                 key={"clips": "y"})  # fmt: skip
    assert np.array_equal(np.asarray(reordered)[::-1], np.asarray(copies))
    other, _ = render_copies(clips, ids, policy.prerendered, seed=2, key={"clips": "x"})
    assert not np.array_equal(np.asarray(other), np.asarray(copies))
    changed = [not np.array_equal(copies[0, k], clips[0]) for k in range(N_COPIES)]
    assert any(changed)  # p = 0.5 per copy: some copies are shifted


def test_in_graph_mel_matches_the_cached_features(tones, features, registry):
    mel = registry.frontend("mel")
    cached = features.features(tones, mel, {})
    module = mel.build(RATE)
    with torch.no_grad():
        in_graph = module(torch.from_numpy(np.array(features.waveforms(tones)[:4]))).numpy()
    assert np.allclose(in_graph, cached[:4], atol=1e-4)


def test_waveform_policy_routes_a_fixed_frontend_through_the_graph(tones, features, registry):
    def routes(plan):
        return [
            r.source for r in CandidateFit(plan, features).augmentation({}, plan.fold.train).routes
        ]

    live = _plan(tones, registry, "cnn2d@mel:gain", [registry.augmentation("gain")])
    assert routes(live) == ["frontend"]
    rendered = _plan(tones, registry, "cnn2d@mel:pitch", [registry.augmentation("pitch")])
    plan = CandidateFit(rendered, features).augmentation({}, rendered.fold.train)
    assert [r.source for r in plan.routes] == ["copies"] and plan.n_copies == N_COPIES
    masked = _plan(tones, registry, "cnn2d@mel:specaugment", [registry.augmentation("specaugment")])
    assert routes(masked) == ["cached"]
    forced = _plan(tones, registry, "cnn2d@mel:pitch", [registry.augmentation("pitch")],
                   mode="on-the-fly")  # fmt: skip
    assert routes(forced) == ["frontend"]


def test_kit_catches_an_augmentation_with_its_own_unseeded_generator():
    def build(sample_rate):
        own = np.random.default_rng()
        return lambda x, rng: x + own.normal(scale=0.01, size=x.shape).astype(np.float32)

    failures = _failures(jitter={"stage": "waveform", "labels": "preserve", "build": build})
    assert failures == [
        "two calls with the same seed differ; draw from rng or the global generators"
    ]


def test_kit_catches_label_mixing_declared_wrong():
    def build_shuffle(sample_rate):
        return lambda xs, y, rng: (xs, y[torch.as_tensor(rng.permutation(len(y)))] * 0.5)

    def build_waveform(sample_rate):
        return lambda x, rng: x

    failures = _failures(
        halve={"stage": "batch", "labels": "preserve", "build": build_shuffle},
        wrongly={"stage": "waveform", "labels": "mix", "build": build_waveform},
    )
    assert "changed the labels but declares labels='preserve'" in failures
    assert "only a batch augmentation can mix labels; declare labels='preserve'" in failures


def test_kit_catches_a_spectrogram_augmentation_that_changes_the_shape():
    def build(sample_rate):
        return lambda x, rng: x[..., :-1]

    failures = _failures(trim={"stage": "spectrogram", "labels": "preserve", "build": build})
    assert failures == ["changed the spectrogram's shape (1, 48, 64) to (1, 48, 63)"]


@pytest.mark.slow
def test_a_run_compares_a_candidate_with_and_without_its_policy(install_tones, tmp_path):
    from merbench.leaderboard.render import render_site
    from merbench.pipeline.runner import run
    from merbench.pipeline.settings import RunSettings
    from merbench.results.summaries import load_results

    config = install_tones()
    settings = RunSettings(
        models=("cnn2d@mel", "ridge"),
        augment=("specaugment,gain+mixup",),
        budget="smoke",
        baselines=False,
        config=config,
        out=tmp_path / "run",
        leaderboard=tmp_path / "site",
    )
    outcome = run(settings)
    assert outcome.ok, outcome
    render_site([outcome.store_url], outcome.site_dir, title=outcome.name)
    results = load_results(tmp_path / "run")
    by_candidate = results.groupby("candidate")["fold"].apply(sorted).to_dict()
    assert by_candidate == {
        "cnn2d@mel": [0, 1, 2],
        "cnn2d@mel:specaugment": [0, 1, 2],
        "cnn2d@mel:gain+mixup": [0, 1, 2],
        "ridge@handcrafted": [0, 1, 2],
    }
    assert (results["status"] == "done").all()
    page = (tmp_path / "site" / "tones-av-regression.html").read_text()
    assert "cnn2d@mel:gain+mixup" in page and "specaugment" in page


def test_a_waveform_transform_of_ragged_lengths_fails_the_cell_clearly(tones, features, registry):
    from merbench.errors import CellError

    def build(sample_rate):
        return lambda x, rng: x[..., : x.shape[-1] - int(rng.integers(1, 100))]

    ragged = merbench.AugmentationSpec(name="ragged", stage="waveform", labels="preserve",
                                       build=build)  # fmt: skip
    plan = _plan(tones, registry, "cnn2d@mel:ragged", [ragged])
    with pytest.raises(CellError, match="augmentation 'ragged' gave clips of different shapes"):
        CandidateFit(plan, features).fit({}, plan.fold.train, epochs=1)
