"""Export folders edited after export: every change to ``model.json``'s structure or bounds, to
the weights' contents and to the folder's members is refused in one line, before anything it
names is allocated or run."""

from __future__ import annotations

import io
import json
import re
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from merbench.cli import main
from merbench.errors import ConfigError
from merbench.exchange import bundle
from tests.helpers.exports import copy_model, one_line, rewrite_manifest, write_clips


def _refusal(model: Path, tmp_path: Path) -> str:
    """``merbench predict`` on one clip: the single line it refuses the model with."""
    clip = write_clips(tmp_path / "clips")[0]
    out = tmp_path / "x.csv"
    line = one_line(CliRunner().invoke(main, ["predict", str(model), str(clip), "--out", str(out)]))
    assert not out.exists()
    return line


def _remove(*keys):
    def change(manifest):
        *parents, last = keys
        for key in parents:
            manifest = manifest[key]
        del manifest[last]

    return change


def _set(*keys, value):
    def change(manifest):
        *parents, last = keys
        for key in parents:
            manifest = manifest[key]
        manifest[last] = value

    return change


STRUCTURE = {
    "key removed": (_remove("audio"), "'audio' is missing"),
    "nested key removed": (_remove("audio", "sample_rate"), "'audio.sample_rate' is missing"),
    "list for an object": (_set("audio", value=[16000, True]), "'audio' must be an object"),
    "text for a number": (_set("audio", "sample_rate", value="16000"), "'audio.sample_rate'"),
    "null for an object": (_set("task", value=None), "'task' must be an object"),
    "true for a number": (_set("audio", "window_seconds", value=True), "'audio.window_seconds'"),
    "unknown top-level key": (_set("surprise", value=1), "'surprise' is not a key"),
    "front-end params as a list": (
        _set("frontends", 0, "params", value=[64, 512]),
        "'frontends[0].params' must be an object",
    ),
    "front-ends as an object": (
        _set("frontends", value={"name": "mel"}),
        "'frontends' must be a list",
    ),
    "front-end name missing": (_remove("frontends", 0, "name"), "'frontends[0].name' is missing"),
    "model name a number": (_set("model", "name", value=5), "'model.name' must be a string"),
    "weights hash missing": (_remove("weights", "sha256"), "'weights.sha256' is missing"),
    "plugin entry as text": (_set("plugins", value=["merbench"]), "'plugins[0]' must be an"),
    "budget key missing": (_remove("budget", "epochs"), "'budget.epochs' is missing"),
    "unknown task": (_set("task", "name", value="happiness"), "'task.name' must be one of"),
    "one scaler value short": (
        _set("target_scaler", "mean", value=[4.7]),
        "'target_scaler.mean' must hold 2 values",
    ),
    "NaN scaler": (_set("target_scaler", "std", value=[float("nan"), 1.0]), "'target_scaler.std"),
    "unknown crop": (_set("audio", "crop", value="middle"), "'audio.crop' must be one of"),
    "label scale upside down": (
        _set("dataset", "label_scale", "low", value=10.0),
        "'dataset.label_scale.high' must be above low",
    ),
    "model parameter the build does not take": (
        _set("model_params", "surprise", value=1),
        "'model_params.surprise' is not a parameter of 'cnn2d'",
    ),
    "front-end parameter the build does not take": (
        _set("frontends", 0, "params", "colour", value="red"),
        "'frontends[0].params.colour' is not a parameter of 'mel'",
    ),
}

BOUNDS = {
    "sample rate too low": (_set("audio", "sample_rate", value=10), "'audio.sample_rate'"),
    "sample rate too high": (_set("audio", "sample_rate", value=10**7), "'audio.sample_rate'"),
    "tiny hop": (_set("audio", "hop_fraction", value=1e-6), "'audio.hop_fraction'"),
    "huge window": (_set("audio", "window_seconds", value=1e6), "'audio.window_seconds'"),
    "huge cap": (_set("audio", "max_seconds", value=1e9), "'audio.max_seconds'"),
    "huge budget window": (_set("budget", "clip_seconds", value=1e6), "'budget.clip_seconds'"),
    "huge n_mels": (_set("frontends", 0, "params", "n_mels", value=10**7), ".params.n_mels'"),
    "one-sample hop": (_set("frontends", 0, "params", "hop_length", value=1), ".hop_length'"),
    "huge n_fft": (_set("frontends", 0, "params", "n_fft", value=10**8), ".params.n_fft'"),
    "huge front-end rate": (
        _set("frontends", 0, "sample_rate", value=10**9),
        "'frontends[0].sample_rate'",
    ),
    "n_mels off the search space": (
        _set("frontends", 0, "params", "n_mels", value=500),
        "'frontends[0].params.n_mels' is 500, outside the search space of 'mel'",
    ),
    "width off the search space": (
        _set("model_params", "width", value=4096),
        "'model_params.width' is 4096, outside the search space of 'cnn2d'",
    ),
    "huge batch size": (_set("budget", "batch_size", value=10**9), "'budget.batch_size'"),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "expected"),
    list(STRUCTURE.values()) + list(BOUNDS.values()),
    ids=list(STRUCTURE) + list(BOUNDS),
)
def test_an_edited_model_json_is_refused_in_one_line_naming_the_field(
    exports, change, expected, tmp_path
):
    model = copy_model(exports("cnn2d@mel"), tmp_path)
    rewrite_manifest(model, change)
    line = _refusal(model, tmp_path)
    assert "model.json" in line and expected in line, line


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "not valid JSON"),
        ("{'format_version': 1,", "not valid JSON"),
        ("[1, 2, 3]", "holds list, not an object"),
        ("null", "holds null, not an object"),
        ("[" * 100_000, "not valid JSON"),
        ('{"format_version": 2}', "export format 2; this merbench reads format 1"),
        ('{"format_version": true}', "export format True"),
    ],
    ids=["empty", "not JSON", "a list", "null", "nested deeply", "other version", "true version"],
)
def test_a_model_json_that_is_no_manifest_is_refused_in_one_line(exports, text, expected, tmp_path):
    model = copy_model(exports("cnn2d@mel"), tmp_path)
    (model / bundle.MODEL_JSON).write_text(text)
    line = _refusal(model, tmp_path)
    assert "model.json" in line and expected in line, line


@pytest.mark.slow
def test_an_oversized_model_json_is_refused_unread(exports, tmp_path):
    model = copy_model(exports("cnn2d@mel"), tmp_path)
    manifest = json.loads((model / bundle.MODEL_JSON).read_text())
    manifest["run"]["padding"] = "x" * (2 << 20)
    (model / bundle.MODEL_JSON).write_text(json.dumps(manifest))
    line = _refusal(model, tmp_path)
    assert "model.json" in line and "more than the 1048576" in line


# --- skops files that would allocate more than the model needs ---------------------------------


def _ridge_skops(path: Path) -> Path:
    from sklearn.linear_model import Ridge

    bundle.save_sklearn(Ridge().fit(np.eye(3), np.arange(3.0)), path, "ridge")
    return path


def _replace_member(path: Path, pick, data: bytes, compression=zipfile.ZIP_STORED) -> None:
    """Rewrite a skops zip with the first member ``pick`` accepts replaced by ``data``."""
    with zipfile.ZipFile(path) as archive:
        members = [(m, archive.read(m)) for m in archive.infolist()]
    name = next(m.filename for m, _ in members if pick(m.filename))
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members:
            if member.filename == name:
                archive.writestr(member.filename, data, compress_type=compression)
            else:
                archive.writestr(member, content)


def test_a_skops_schema_that_inflates_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "model.skops"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("schema.json", "w") as stream:  # 32 MB of JSON in about 32 KB
            stream.write(b"[")
            for _ in range(16):
                stream.write(b"0," * (1 << 20))
            stream.write(b"0]")
    assert path.stat().st_size < 1 << 20
    import skops.io  # noqa: F401  (imported before memory is traced: its import is not the file)

    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as refused:
            bundle.load_sklearn(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    line = str(refused.value)
    assert "\n" not in line and "model.skops" in line and "schema.json" in line, line
    assert "inflates" in line and "it was not loaded" in line
    assert peak < 8 << 20  # the schema was never inflated


def test_a_skops_member_of_zeros_that_inflates_a_thousandfold_is_refused(tmp_path):
    path = _ridge_skops(tmp_path / "model.skops")
    zeros = io.BytesIO()
    np.save(zeros, np.zeros(8 << 20))  # 64 MiB of zeros
    _replace_member(path, lambda n: n.endswith(".npy"), zeros.getvalue(), zipfile.ZIP_DEFLATED)
    with pytest.raises(ConfigError, match=r"model\.skops: member '.*\.npy' inflates .* zip bomb"):
        bundle.load_sklearn(path)


def test_a_skops_array_larger_than_its_member_is_refused(tmp_path):
    path = _ridge_skops(tmp_path / "model.skops")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)}
    )
    _replace_member(path, lambda n: n.endswith(".npy"), header.getvalue() + bytes(64))
    with pytest.raises(ConfigError, match=r"declares a float64 array of shape \(1000000000,\)"):
        bundle.load_sklearn(path)


def test_a_skops_file_larger_than_the_model_needs_is_refused(tmp_path):
    from merbench.exchange.archive import skops_budget

    path = _ridge_skops(tmp_path / "model.skops")
    with pytest.raises(ConfigError, match="more than the 1000 the model may take"):
        bundle.load_sklearn(path, budget=1000)
    assert skops_budget(40) < skops_budget(2000) <= 1 << 30
    bundle.load_sklearn(path, budget=skops_budget(3))  # the real file fits


# --- weights, members and predictions ----------------------------------------------------------


def _rewrite_weights(model: Path, change) -> None:
    """Change the safetensors tensors and record the new file's sha256, as a forger would."""
    from safetensors.torch import load_file, save_file

    path = model / bundle.TORCH_WEIGHTS
    tensors = load_file(str(path))
    change(tensors)
    save_file(tensors, str(path))
    digest = bundle.sha256_of(path)
    rewrite_manifest(model, lambda m: m["weights"].update(sha256=digest))


def _first_float(tensors) -> str:
    return next(k for k, v in sorted(tensors.items()) if v.is_floating_point())


@pytest.mark.slow
@pytest.mark.parametrize(("dtype", "name"), [("float64", "F64"), ("int8", "I8")])
def test_weights_of_another_dtype_are_refused_not_cast(exports, dtype, name, tmp_path):
    import torch

    model = copy_model(exports("cnn2d@mel"), tmp_path)
    cast = getattr(torch, dtype)
    _rewrite_weights(model, lambda t: t.update({k: v.to(cast) for k, v in t.items()}))
    line = _refusal(model, tmp_path)
    assert "model.safetensors" in line and f"is {name}, the network holds F32" in line, line


@pytest.mark.slow
@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_a_prediction_that_is_not_finite_is_refused(exports, bad, tmp_path):
    import torch

    model = copy_model(exports("cnn2d@mel"), tmp_path)

    def poison(tensors):
        last = max(k for k in tensors if k.endswith(".bias"))  # the output layer's bias
        tensors[last] = torch.full_like(tensors[last], bad)

    _rewrite_weights(model, poison)
    line = _refusal(model, tmp_path)
    assert "model.safetensors" in line and "short.wav" in line, line
    assert re.search(r"predicted (arousal|valence) = (nan|-?inf) for ", line), line
    assert "a model predicts finite values" in line


@pytest.mark.slow
@pytest.mark.parametrize("candidate", ["cnn2d@mel", "ridge@handcrafted"])
def test_a_prediction_far_off_the_label_scale_is_refused(exports, candidate, tmp_path):
    model = copy_model(exports(candidate), tmp_path)
    rewrite_manifest(model, lambda m: m["target_scaler"].update(mean=[1000.0, -1000.0]))
    line = _refusal(model, tmp_path)
    assert "short.wav" in line and "arousal = " in line, line
    assert "outside the plausible range -39..49 (the label scale 1..9 widened by 5" in line


@pytest.mark.slow
@pytest.mark.parametrize("name", [bundle.MODEL_JSON, bundle.TORCH_WEIGHTS, bundle.CHECK_CSV])
def test_a_member_linked_from_outside_the_folder_is_refused(exports, name, tmp_path):
    model = copy_model(exports("cnn2d@mel"), tmp_path)
    outside = tmp_path / "elsewhere" / name
    outside.parent.mkdir()
    (model / name).rename(outside)
    (model / name).symlink_to(outside)
    line = _refusal(model, tmp_path)
    assert f"{name}: a link to {outside}" in line, line
