"""The pretrained-encoder front-ends (mert, clap) and the mlp probe, on tiny random models.

Every encoder is built from a tiny randomly initialised config saved into a temporary
``$MERBENCH_ENCODERS`` folder (no download); a subprocess shows the core without the extra.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch

import merbench
from merbench.data.audio import AudioSettings, AudioStore
from merbench.data.decoding import decode
from merbench.data.features import FeatureStore
from merbench.data.tracks import Tracks
from merbench.errors import PluginError
from merbench.testing import check_plugin, write_tone_dataset
from merbench_plugins.frontends import encoders
from merbench_plugins.models import mlp

RATE = 22050  # the files' own rate: every store resamples


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("encoders")
    encoders.save_tiny_weights(root)
    return root


@pytest.fixture
def tiny(tiny_root, monkeypatch):
    monkeypatch.setenv("MERBENCH_ENCODERS", str(tiny_root))
    return tiny_root


@pytest.fixture
def spy(monkeypatch):
    """Record the audio every encoder call receives ``[B, T]`` (and count the calls)."""
    seen: list[tuple[str, tuple[int, ...]]] = []
    for name, encoder in encoders.ENCODERS.items():

        def embed(model, weights, audio, _embed=encoder.embed, _name=name):
            seen.append((_name, tuple(audio.shape)))
            return _embed(model, weights, audio)

        monkeypatch.setitem(encoders.ENCODERS, name, replace(encoder, embed=embed))
    return seen


def _spec(name):
    return next(s for s in encoders.merbench_frontends() if s.name == name)


def _waves(seconds, rate, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.normal(0, 0.1, (n, 1, round(seconds * rate))).astype(np.float32))


def test_mert_gives_a_vector_per_window_for_every_layer_and_pooling(tiny, spy):
    x = _waves(1.0, 16000)
    first = encoders.build_mert(16000, layer=3, pooling="mean")(x)
    assert first.shape == (3, 8) and first.dtype == torch.float32
    both = encoders.build_mert(16000, layer=3, pooling="mean+std")(x)
    assert both.shape == (3, 16) and torch.equal(both[:, :8], first)
    outputs = [encoders.build_mert(16000, layer=k)(x) for k in range(13)]
    assert len({o.numpy().tobytes() for o in outputs}) == 13  # 13 distinct hidden states
    assert spy == [("mert", (3, 16000))]  # the encoder ran once for all of them


def test_mert_layers_stacks_every_hidden_state_from_the_same_statistics(tiny, spy):
    x = _waves(1.0, 16000, seed=4)
    stacked = encoders.build_mert_layers(16000, pooling="mean+std")(x)
    assert stacked.shape == (3, 13, 16)
    for k in (0, 6, 12):
        single = encoders.build_mert(16000, layer=k, pooling="mean+std")(x)
        assert torch.equal(stacked[:, k], single)
    assert spy == [("mert", (3, 16000))]  # one encoder pass for the stack and the layers


def test_another_layer_reads_the_stored_layers_instead_of_running_the_encoder(tiny, spy):
    x = _waves(1.0, 16000, seed=1)
    computing = encoders.build_mert(16000, layer=2)
    computing(x)
    reading = encoders.build_mert(16000, layer=9, pooling="mean+std")
    reading(x)
    assert (computing.computed, computing.loaded) == (1, 0)
    assert (reading.computed, reading.loaded) == (0, 1)
    assert reading.model is None  # the weights were not even loaded
    assert len(spy) == 1


def test_without_a_writable_cache_the_encoder_computes_without_caching(
    tiny, spy, tmp_path, monkeypatch
):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # the cache folder cannot be made
    monkeypatch.setenv("MERBENCH_CACHE", str(blocked))
    x = _waves(1.0, 16000, seed=5)
    module = encoders.build_mert(16000, layer=4)
    first, again = module(x), module(x)
    assert torch.equal(first, again) and first.shape == (3, 8)
    assert (module.computed, module.loaded) == (2, 0) and len(spy) == 2


def test_input_at_another_rate_is_resampled_to_the_encoders_rate(tiny, spy):
    encoders.build_mert(48000)(_waves(1.0, 48000, seed=2))
    encoders.build_clap(16000)(_waves(2.0, 16000, seed=2))
    assert spy == [("mert", (3, 16000)), ("clap", (3, 96000))]


def test_clap_layers_and_long_windows_split_into_ten_second_pieces(tiny):
    x = _waves(12.0, 48000, n=2, seed=3)
    pooled = encoders.build_clap(48000, layer="pooled")(x)
    projection = encoders.build_clap(48000, layer="projection")(x)
    assert pooled.shape == (2, 64) and projection.shape == (2, 8)
    ten = 10 * 48000
    head = encoders.build_clap(48000, layer="projection")(x[..., :ten].contiguous())
    tail = encoders.build_clap(48000, layer="projection")(x[..., -ten:].contiguous())
    assert torch.allclose(projection, (head + tail) / 2, atol=1e-5)


def test_the_same_window_gives_the_same_embedding_whatever_its_batch(tiny):
    x = _waves(3.0, 48000, n=3, seed=4)
    whole = encoders.build_clap(48000)(x)
    alone = encoders.build_clap(48000)(x[1:2].contiguous())
    assert torch.allclose(whole[1:2], alone, atol=1e-5)


def _tracks(folder: Path, lengths):
    rows = []
    rng = np.random.default_rng(0)
    for i, seconds in enumerate(lengths):
        path = folder / f"t{i}.wav"
        soundfile.write(path, rng.normal(0, 0.1, round(seconds * RATE)).astype(np.float32), RATE)
        rows.append(dict(track_id=f"t{i}", group=f"g{i}", audio_path=str(path), arousal=1.0 + i,
                         valence=1.0 + i))  # fmt: skip
    spec = merbench.DatasetSpec(name="long", load=lambda root: None, tasks=("av-regression",))
    return Tracks(name="long", spec=spec, table=pd.DataFrame(rows))


def _store(tmp_path):
    audio = AudioStore(AudioSettings(sample_rate=16000, seconds=1.0), tmp_path / "audio")
    return FeatureStore(audio, tmp_path / "features")


def test_a_frontend_declaring_its_rate_gets_the_runs_windows_at_that_rate(tmp_path):
    built = []

    def build(sample_rate):
        built.append(sample_rate)
        return lambda x: x.abs().amax(dim=2)  # [B, C, T] -> [B, C]: each window's peak

    identity = {"weights": "a"}
    spec = merbench.FrontEndSpec(
        name="peak", output="vector", build=build, sample_rate=8000, describe=lambda: identity
    )
    tracks = _tracks(tmp_path, [2.5, 0.5, 1.2])
    store = _store(tmp_path)
    at_8k = np.array(store.features(tracks, spec, {}))
    at_run_rate = np.array(store.features(tracks, replace(spec, sample_rate=None), {}))
    assert built == [8000, 16000] and at_8k.shape == at_run_rate.shape == (7, 1)
    windows = store.windows(tracks)
    clips = [decode(p, 8000) for p in tracks.table["audio_path"]]
    for row in range(len(windows)):
        start = int(windows.start[row]) // 2  # the same second at 8 kHz
        clip = clips[int(windows.track[row])]
        assert at_8k[row, 0] == pytest.approx(np.abs(clip[start : start + 8000]).max())
    identity["weights"] = "b"  # what describe() says is part of the key
    store.features(tracks, spec, {})
    assert built == [8000, 16000, 8000]


def test_the_feature_store_decodes_an_encoders_windows_at_its_rate(tmp_path, tiny, spy):
    tracks = _tracks(tmp_path, [2.5, 0.5, 1.2])
    store = _store(tmp_path)
    windows = store.windows(tracks)
    assert windows.offsets.tolist() == [0, 4, 5, 7]
    features = store.features(tracks, _spec("clap"), {"layer": "projection"})
    assert features.shape == (len(windows), 8)
    assert spy == [("clap", (7, 48000))]  # one batch of 7 one-second windows, at 48 kHz
    at_48k = store.cut(tracks, np.arange(len(windows)), 48000)
    clip = decode(tracks.table["audio_path"][0], 48000)
    for row in range(4):  # track 0's windows start at the same second at both rates
        start = round(int(windows.start[row]) * 3)
        assert np.array_equal(at_48k[row, 0], clip[start : start + 48000])
    assert not at_48k[4, 0, 24000:].any()  # the short clip is zero-padded at 48 kHz too
    described = json.loads(next((tmp_path / "features").glob("clap-*.json")).read_text())
    assert described["model_id"] == "laion/larger_clap_music"
    assert set(described["sha256"]) == {"config.json", "model.safetensors"}


def test_features_are_cached_and_follow_the_weights(tmp_path, tiny, spy, monkeypatch):
    tracks = _tracks(tmp_path, [2.0, 1.0])
    first = _store(tmp_path)
    computed = np.array(first.features(tracks, _spec("mert"), {"layer": 4, "pooling": "mean"}))
    again = _store(tmp_path)
    loaded = again.features(tracks, _spec("mert"), {"layer": 4, "pooling": "mean"})
    assert (again.computed, again.loaded) == (0, 1) and np.array_equal(loaded, computed)
    other = again.features(tracks, _spec("mert"), {"layer": 5, "pooling": "mean"})
    assert again.computed == 1 and not np.array_equal(other, computed)
    assert len(spy) == 1  # layer 5 came from the stored layers
    replaced = tmp_path / "replaced"
    encoders.save_tiny_weights(replaced, seed=1)  # other weights: the features are recomputed
    monkeypatch.setenv("MERBENCH_ENCODERS", str(replaced))
    fresh = _store(tmp_path)
    changed = fresh.features(tracks, _spec("mert"), {"layer": 4, "pooling": "mean"})
    assert fresh.computed == 1 and not np.array_equal(changed, computed)


def test_offline_without_a_local_copy_is_one_line_naming_the_model_and_the_fix(
    tmp_path, monkeypatch
):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("MERBENCH_ENCODERS", str(tmp_path / "empty"))
    with pytest.raises(PluginError) as caught:
        encoders.build_mert(16000)
    message = str(caught.value)
    assert "\n" not in message
    assert "no local copy of m-a-p/MERT-v0" in message
    assert "$MERBENCH_ENCODERS/m-a-p--MERT-v0/" in message
    assert 'hf download m-a-p/MERT-v0 --local-dir "$MERBENCH_ENCODERS/m-a-p--MERT-v0"' in message


def test_a_hub_copy_is_downloaded_once_and_a_bin_checkpoint_loads_as_tensors_only(
    tmp_path, tiny_root, monkeypatch
):
    import httpx2
    import huggingface_hub
    from huggingface_hub.errors import RemoteEntryNotFoundError
    from transformers import HubertModel

    snapshot = tmp_path / "hub" / "models--m-a-p--MERT-v0" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    tiny = tiny_root / "m-a-p--MERT-v0"
    (snapshot / "config.json").write_bytes((tiny / "config.json").read_bytes())
    torch.save(HubertModel.from_pretrained(tiny).state_dict(), snapshot / "pytorch_model.bin")
    asked = []

    def hf_hub_download(repo_id, filename, *, revision, cache_dir):
        asked.append((repo_id, filename, revision, Path(cache_dir).name))
        if (snapshot / filename).is_file():
            return str(snapshot / filename)
        response = httpx2.Response(404, request=httpx2.Request("GET", "https://hub/x"))
        raise RemoteEntryNotFoundError(f"{filename}: 404", response=response)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    monkeypatch.setenv("MERBENCH_ENCODERS", str(tmp_path / "empty"))
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    module = encoders.build_mert(16000, layer=12)
    out = module(_waves(1.0, 16000))
    files = ["config.json", "model.safetensors", "pytorch_model.bin", "preprocessor_config.json"]
    assert asked == [("m-a-p/MERT-v0", f, "main", "hub") for f in files]
    assert module.weights.source == "hub" and module.weights.revision == "0123abcd"
    assert not module.weights.is_safetensors and out.shape == (3, 8)
    reference = encoders.build_mert(16000, layer=12)
    monkeypatch.setenv("MERBENCH_ENCODERS", str(tiny_root))  # the same weights, as safetensors
    assert torch.allclose(encoders.build_mert(16000, layer=12)(_waves(1.0, 16000)), out)
    assert len(asked) == 4 and reference.weights.revision == "0123abcd"  # asked the Hub once


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path, tiny_root, monkeypatch):
    folder = tmp_path / "m-a-p--MERT-v0"
    folder.mkdir()
    config = json.loads((tiny_root / "m-a-p--MERT-v0" / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"model_type": "mert_model"}))
    (folder / "model.safetensors").write_bytes(
        (tiny_root / "m-a-p--MERT-v0" / "model.safetensors").read_bytes()
    )
    monkeypatch.setenv("MERBENCH_ENCODERS", str(tmp_path))
    with pytest.raises(PluginError, match=r"model_type 'mert_model', not 'hubert'.*never remote"):
        encoders.build_mert(16000)(_waves(1.0, 16000))


def test_weights_missing_from_the_checkpoint_are_refused(tmp_path, tiny_root, monkeypatch):
    folder = tmp_path / "m-a-p--MERT-v0"
    folder.mkdir()
    config = json.loads((tiny_root / "m-a-p--MERT-v0" / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"num_hidden_layers": 13}))
    (folder / "model.safetensors").write_bytes(
        (tiny_root / "m-a-p--MERT-v0" / "model.safetensors").read_bytes()
    )
    monkeypatch.setenv("MERBENCH_ENCODERS", str(tmp_path))
    with pytest.raises(PluginError, match=r"lacks \d+ of HubertModel's weights.*encoder.layers.12"):
        encoders.build_mert(16000)(_waves(1.0, 16000))


def test_the_encoders_pass_the_contract_kit(tiny):
    checks = check_plugin(encoders)
    names = [c.name for c in checks]
    assert "front-end mert: builds with defaults" in names
    assert "front-end clap: builds with defaults" in names
    assert "front-end mert-layers: builds with defaults" in names


def test_the_mlp_probe_passes_the_contract_kit():
    checks = check_plugin(mlp)
    assert any(c.name.startswith("model mlp") for c in checks)
    assert any(c.name.startswith("model layer-mlp") for c in checks)


def test_the_layer_probe_starts_from_equal_weights_and_learns_them():
    shape = (merbench.InputShape(kind="sequence", shape=(4, 3)),)
    net = mlp.build_layer_mlp(shape, 2, hidden=0, dropout=0.0)
    mix = net[0]
    assert torch.allclose(mix.weights(), torch.full((4,), 0.25))
    x = torch.randn(64, 4, 3)
    x[:, 2] *= 10.0  # one layer on another scale: standardised before the sum
    net.train()
    assert net(x).shape == (64, 2)
    net.eval()  # the running statistics are the batch's: each layer now has unit variance
    mixed = mix(x)
    expected = mix.norm(x.reshape(64, -1)).reshape(64, 4, 3).mean(dim=1)
    torch.testing.assert_close(mixed, expected)
    assert mixed.std() < 1.0  # the 10x layer does not dominate
    target = x[:, 1, :2]  # only layer 1 predicts the targets
    optimiser = torch.optim.Adam(net.parameters(), lr=0.05)
    net.train()
    for _ in range(200):
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(net(x), target).backward()
        optimiser.step()
    assert int(mix.weights().argmax()) == 1


def test_all_leaves_out_candidates_whose_front_ends_need_weights(tiny):
    from merbench.pipeline.candidates import expand_candidates
    from merbench.plugin.registry import load_registry

    registry = load_registry(plugins=[encoders, mlp], entry_points=False)
    everything, _ = expand_candidates(["all"], registry)
    runnable = [c.name for c in everything]
    assert "layer-mlp@mert-layers" not in runnable and "mlp@mert" not in runnable
    asked, _ = expand_candidates(["layer-mlp"], registry)
    assert [c.name for c in asked] == ["layer-mlp@mert-layers"]
    from merbench.cli.commands import _candidate_rows  # what 'merbench list candidates' shows

    status = {row["candidate"]: row["status"] for row in _candidate_rows(registry)}
    assert "not in 'all'" in status["layer-mlp@mert-layers"]


def test_the_mlp_probe_is_linear_without_a_hidden_layer():
    shape = (merbench.InputShape(kind="vector", shape=(5,)),)
    linear = mlp.build_mlp(shape, 2, hidden=0)
    hidden = mlp.build_mlp(shape, 2, hidden=4)
    assert sum(isinstance(m, torch.nn.Linear) for m in linear.modules()) == 1
    assert sum(isinstance(m, torch.nn.Linear) for m in hidden.modules()) == 2
    assert hidden(torch.randn(3, 5)).shape == (3, 2)


def _folder_dataset(tmp_path):
    rows = write_tone_dataset(tmp_path / "data", n_tracks=18, seconds=2.0, sample_rate=RATE)
    table = pd.DataFrame(rows).rename(columns={"audio_path": "file", "group": "artist"})
    table.to_csv(tmp_path / "data" / "labels.csv", index=False)
    config = tmp_path / "datasets.toml"
    config.write_text(f'[datasets.tones]\nplugin = "folder"\npath = "{tmp_path / "data"}"\n')
    return config


@pytest.mark.slow
def test_the_cli_runs_probes_of_both_encoders_beside_a_model_from_scratch(
    tmp_path, tiny, distributions, monkeypatch
):
    from click.testing import CliRunner

    from merbench.cli import main
    from merbench.results.store import Store
    from merbench.results.summaries import load_results
    from merbench.results.urls import sqlite_url

    registered = {ep.name for ep in metadata.entry_points(group="merbench")}
    if not {"encoders", "mlp"} <= registered:  # an install that predates them
        targets = {"encoders": encoders.__name__, "mlp": mlp.__name__}
        distributions.install("merbench-encoders-here", "0.1", targets, {})
    config = _folder_dataset(tmp_path)
    monkeypatch.chdir(tmp_path)
    models = "ridge@clap,mlp@mert,layer-mlp@mert-layers,cnn2d@mel"
    arguments = [
        "run",
        "--models",
        models,
        "--no-baselines",
        "--tasks",
        "av-regression",
        "--budget",
        "smoke",
    ]
    result = CliRunner().invoke(main, [*arguments, "--config", str(config), "--out", "run"])
    assert result.exit_code == 0, result.output
    results = load_results(tmp_path / "run")
    assert set(results["candidate"]) == set(models.split(","))
    assert (results["status"] == "done").all(), results[["candidate", "error"]]
    store = Store(sqlite_url(tmp_path / "run"))
    infos = [row["info"] for row in store.table("cells") if row["candidate"] == "mlp@mert"]
    store.close()
    frontend = infos[0]["frontends"][0]  # the weights each cell read, with their hashes
    assert frontend["params"]["model_id"] == "m-a-p/MERT-v0"
    assert frontend["sample_rate"] == 16000
    weights = frontend["weights"]
    assert (weights["model_id"], weights["source"]) == ("m-a-p/MERT-v0", "local")
    config_file = tiny / "m-a-p--MERT-v0" / "config.json"
    assert weights["sha256"]["config.json"] == hashlib.sha256(config_file.read_bytes()).hexdigest()
    assert len(weights["sha256"]) >= 2  # the config and the weights file

    # the methods card names the weights every encoder cell read
    from merbench.leaderboard.render import render_site

    render_site([sqlite_url(tmp_path / "run")], tmp_path / "site")
    card = (tmp_path / "site" / "methods.md").read_text()
    digest = weights["sha256"]["config.json"]
    assert f"| mert | m-a-p/MERT-v0 | local | local | 16000 | config.json {digest};" in card
    assert r"| clap | laion/larger\_clap\_music | local | local | 48000 |" in card

    # an exported encoder probe predicts as the run did: windows decoded at the encoder's rate
    invoke = CliRunner().invoke
    result = invoke(main, ["export", "run", "--candidate", "ridge@clap", "--out", "model"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "model" / "model.json").read_text())
    (frontend,) = manifest["frontends"]
    assert frontend["sample_rate"] == 48000
    assert frontend["weights"]["model_id"] == "laion/larger_clap_music"
    check = pd.read_csv(tmp_path / "model" / "check.csv")
    files = [str(tmp_path / "data" / f) for f in check["file"]]  # relative to the dataset's path
    result = invoke(main, ["predict", "model", *files, "--out", "p.csv", "--no-progress"])
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(tmp_path / "p.csv")
    columns = [c for c in predicted.columns if c != "file"]
    assert list(predicted["file"]) == files and columns
    # float32 embeddings computed in other batches: equal to about 1e-6 of the scale
    np.testing.assert_allclose(predicted[columns], check[columns], rtol=1e-5, atol=1e-5)

    # other weights on this machine than those the model was trained on: refused, named
    frontend["weights"]["sha256"]["config.json"] = "0" * 64
    (tmp_path / "model" / "model.json").write_text(json.dumps(manifest))
    result = invoke(main, ["predict", "model", files[0], "--out", "q.csv", "--no-progress"])
    assert result.exit_code != 0 and not (tmp_path / "q.csv").exists()
    assert "front-end 'clap' was trained on laion/larger_clap_music" in result.output
    assert "differs in config.json" in result.output
    # a file the model was not trained with (a preprocessor config beside the weights) differs too
    del frontend["weights"]["sha256"]["config.json"]
    (tmp_path / "model" / "model.json").write_text(json.dumps(manifest))
    result = invoke(main, ["predict", "model", files[0], "--out", "q.csv", "--no-progress"])
    assert result.exit_code != 0 and "differs in config.json" in result.output
    # trained on a downloaded copy: the line says how to fetch that revision
    frontend["weights"].update(source="hub", revision="0123abc")
    (tmp_path / "model" / "model.json").write_text(json.dumps(manifest))
    result = invoke(main, ["predict", "model", files[0], "--out", "q.csv", "--no-progress"])
    fetch = "hf download laion/larger_clap_music --revision 0123abc --local-dir"
    assert fetch in result.output and "laion--larger_clap_music" in result.output


ABSENT = """
import importlib, sys
from importlib import metadata
from pathlib import Path
for name in ("transformers", "huggingface_hub", "safetensors"):
    sys.modules[name] = None  # import fails, as without the extra
from merbench.pipeline.candidates import expand_candidates
from merbench.plugin.registry import load_registry
from merbench.pipeline.runner import run
from merbench.results.summaries import load_results
from merbench.pipeline.settings import RunSettings
names = [ep.value for ep in metadata.entry_points(group="merbench")
         if ep.dist is not None and ep.dist.name == "merbench"]
names += ["merbench_plugins.frontends.encoders", "merbench_plugins.models.mlp"]
modules = [importlib.import_module(n) for n in dict.fromkeys(names)]
registry = load_registry(plugins=modules, entry_points=False)
assert not registry.failures, registry.failures
assert {"mert", "clap"} <= set(registry.frontends)
everything, _ = expand_candidates(["all"], registry)
assert not [c.name for c in everything if {"mert", "clap"} & set(c.frontends)]
settings = RunSettings(models=("ridge", "ridge@mert"), baselines=False, tasks=("av-regression",),
                       budget="smoke", config=Path(CONFIG), out=Path(OUT), render=False)
outcome = run(settings, registry=registry)
results = load_results(Path(OUT))
done = results[results["status"] == "done"]
failed = results[results["status"] == "failed"]
assert set(done["candidate"]) == {"ridge@handcrafted"}, results
assert set(failed["candidate"]) == {"ridge@mert"}, results
for error in sorted(set(failed["error"])):
    print("ERROR", error)
assert not [m for m in ("transformers", "huggingface_hub") if sys.modules.get(m) is not None]
"""


@pytest.mark.slow
def test_without_the_extra_the_core_runs_and_an_encoder_names_the_extra(tmp_path):
    source = ABSENT.replace("CONFIG", repr(str(_folder_dataset(tmp_path))))
    source = source.replace("OUT", repr(str(tmp_path / "run")))
    plugins = Path(encoders.__file__).parents[2]
    env = {
        "PYTHONPATH": f"{plugins.parent}:{plugins}",
        "MERBENCH_CACHE": str(tmp_path / "cache"),
        "MERBENCH_JOBS": "1",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    errors = [line for line in done.stdout.splitlines() if line.startswith("ERROR ")]
    extra = 'pip install "merbench[encoders]"'
    assert errors == [f"ERROR front-end 'mert' needs the optional encoders extra: {extra}."]
