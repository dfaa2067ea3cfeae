"""The files of an exported model, written and read back without executing anything in them.

An export folder holds ``model.json`` (what the model is and how audio becomes its input), the
weights (a torch network's ``state_dict`` as **safetensors**, a scikit-learn estimator as
**skops**) and ``check.csv``. Reading one refuses, in one line each: a member that is a link or
resolves outside the folder, a ``model.json`` of another format version or that breaks its schema
(``merbench.exchange.schema``), a weights file whose sha256 differs from the one ``model.json``
records, a file that is not valid safetensors or skops (a pickle is never unpickled), a tensor
of another dtype than the network's, a skops file that would allocate more than the model needs
(``merbench.exchange.archive``) or holds a type outside ``TRUSTED_TYPES``, and plugins that are
missing or installed at another major version.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Collection, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from merbench.errors import ConfigError, PluginError
from merbench.exchange.archive import MAX_SKOPS_BYTES, check_skops

if TYPE_CHECKING:
    import torch

    from merbench.evaluation.tasks import TaskSpec

FORMAT_VERSION = 1
MODEL_JSON = "model.json"
CHECK_CSV = "check.csv"
TORCH_WEIGHTS = "model.safetensors"
SKLEARN_WEIGHTS = "model.skops"
WEIGHT_FORMATS = {"safetensors": TORCH_WEIGHTS, "skops": SKLEARN_WEIGHTS}

TRUSTED_TYPES = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.str",
        "builtins.tuple",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.float32",
        "numpy.float64",
        "numpy.int32",
        "numpy.int64",
        "numpy.bool_",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._label.LabelBinarizer",
        "sklearn.multioutput.MultiOutputRegressor",
        "sklearn.multiclass.OneVsRestClassifier",
        "sklearn.multiclass._ConstantPredictor",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._ridge.Ridge",
        "sklearn.linear_model._ridge.RidgeClassifier",
        "sklearn.svm._classes.SVR",
        "sklearn.svm._classes.SVC",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._tree.Tree",
    }
)
"""The types any skops file may hold: those of the built-in scikit-learn candidates. A model's
plugin adds its own with ``ModelSpec.trusted_types``."""


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_torch(net: torch.nn.Module, path: Path) -> None:
    """Write a network's whole ``state_dict`` (front-ends included) as safetensors."""
    from safetensors.torch import save_model

    save_model(net, str(path), force_contiguous=True)


def load_torch(net: torch.nn.Module, path: Path, device: str) -> None:
    """Load safetensors weights into ``net`` (every key must match, each tensor of the dtype
    the network holds: a float64 or int8 tensor is refused, never cast).

    Raises:
        ConfigError: the file is not valid safetensors, or its tensors do not fit ``net``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    try:
        _check_dtypes(net, path)
        load_model(net, str(path), strict=True, device=device)
    except SafetensorError as exc:
        raise ConfigError(
            f"{path}: not a valid safetensors file ({exc}); it was not loaded. Export the model "
            "again with 'merbench export'."
        ) from None
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(
            f"{path}: the weights do not fit the network the plugins build ({first}). Export "
            "the model again with the plugins installed here."
        ) from None


def _check_dtypes(net: torch.nn.Module, path: Path) -> None:
    """Refuse a tensor whose dtype differs from the network's (read from the header only)."""
    from safetensors import safe_open

    wanted = {k: _dtype_name(v.dtype) for k, v in net.state_dict().items()}
    with safe_open(str(path), framework="pt", device="cpu") as weights:
        for key in weights.keys():  # a safe_open handle is no mapping
            found = weights.get_slice(key).get_dtype()
            if key in wanted and found != wanted[key]:
                raise ConfigError(
                    f"{path}: tensor '{key}' is {found}, the network holds {wanted[key]}; it was "
                    "not loaded (a tensor is never cast). Export the model again with "
                    "'merbench export'."
                )


def _dtype_name(dtype: torch.dtype) -> str:
    """A torch dtype as a safetensors header names it (``F32``, ``I64``, ...)."""
    import torch

    names = {
        torch.float64: "F64",
        torch.float32: "F32",
        torch.float16: "F16",
        torch.bfloat16: "BF16",
        torch.int64: "I64",
        torch.int32: "I32",
        torch.int16: "I16",
        torch.int8: "I8",
        torch.uint8: "U8",
        torch.bool: "BOOL",
    }
    return names.get(dtype, str(dtype))


def save_sklearn(estimator: Any, path: Path, model: str, extra: Collection[str] = ()) -> None:
    """Write a fitted estimator with skops (never a pickle).

    Args:
        estimator: the fitted estimator.
        path: the file to write.
        model: the model's name (for the message).
        extra: the model's own ``ModelSpec.trusted_types``.

    Raises:
        ConfigError: the estimator holds a type outside ``TRUSTED_TYPES`` and ``extra``
            (``predict`` would refuse the file).
    """
    import skops.io

    data = skops.io.dumps(estimator)
    untrusted = untrusted_types(skops_types(data), extra)
    if untrusted:
        raise ConfigError(
            f"{path}: model '{model}' holds types merbench does not load "
            f"({', '.join(untrusted)}). The model's plugin can list them in its ModelSpec's "
            "trusted_types (docs/plugins.md)."
        )
    path.write_bytes(data)


def load_sklearn(path: Path, extra: Collection[str] = (), budget: int = MAX_SKOPS_BYTES) -> Any:
    """Load a skops file holding only ``TRUSTED_TYPES`` and the model's own ``extra`` types
    (its installed plugin's ``ModelSpec.trusted_types``), after checking what it would allocate
    against ``budget`` bytes (``merbench.exchange.archive``).

    Raises:
        ConfigError: the file is not a skops file (a pickle, say: it is never unpickled), it
            would allocate more than allowed (a zip bomb, an oversized array), or it holds
            another type (named).
    """
    import skops.io

    check_skops(path, budget)
    data = path.read_bytes()
    try:
        found = skops_types(data)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ConfigError(
            f"{path}: not a skops file ({exc}); it was not loaded (pickles never are). Export "
            "the model again with 'merbench export'."
        ) from None
    untrusted = untrusted_types(found, extra)
    if untrusted:
        raise ConfigError(
            f"{path}: holds type(s) merbench does not trust: {', '.join(untrusted)}; it was not "
            "loaded. Export the model again with 'merbench export'."
        )
    try:
        return skops.io.loads(data, trusted=sorted(found))
    except Exception as exc:  # skops raises many kinds on a malformed file; none is trusted
        raise ConfigError(
            f"{path}: not a valid skops file ({type(exc).__name__}: {exc}); it was not loaded. "
            "Export the model again with 'merbench export'."
        ) from None


def untrusted_types(found: Collection[str], extra: Collection[str] = ()) -> list[str]:
    """The types of ``found`` outside ``TRUSTED_TYPES`` and a model's own ``extra``, sorted."""
    return sorted(set(found) - TRUSTED_TYPES - set(extra))


def skops_types(data: bytes) -> set[str]:
    """Every ``module.class`` named in a skops file's schema.

    Raises:
        zipfile.BadZipFile, KeyError, ValueError: not a skops file.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    return set(_named_types(schema))


def _named_types(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "__class__" in node or "__module__" in node:
            yield f"{node.get('__module__')}.{node.get('__class__')}"
        for value in node.values():
            yield from _named_types(value)
    elif isinstance(node, list):
        for value in node:
            yield from _named_types(value)


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> Path:
    """Write ``model.json``."""
    path = folder / MODEL_JSON
    path.write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n")
    return path


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def read_manifest(folder: Path) -> dict[str, Any]:
    """Read an export's ``model.json``: its format version, then every key against
    ``merbench.exchange.schema.MANIFEST_SCHEMA`` (types and bounds), before any value is used.

    Raises:
        ConfigError: no ``model.json``, a member that is a link, not JSON, another format
            version, or a key missing, of another type or out of bounds (naming it).
    """
    from merbench.exchange.schema import MAX_MANIFEST_BYTES, check_manifest

    path = folder / MODEL_JSON
    if not path.is_file():
        raise ConfigError(
            f"{folder}: no {MODEL_JSON}; this is not an exported model. Pass the folder that "
            "'merbench export --out' wrote."
        )
    check_members(folder)
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ConfigError(
            f"{path}: {path.stat().st_size} bytes, more than the {MAX_MANIFEST_BYTES} a "
            f"{MODEL_JSON} may have; it was not read. Export the model again."
        )
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ConfigError(f"{path}: not valid JSON ({reason}). Export the model again.") from None
    if not isinstance(manifest, dict):
        raise ConfigError(
            f"{path}: holds {type(manifest).__name__ if manifest is not None else 'null'}, not "
            "an object. Export the model again."
        )
    version = manifest.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ConfigError(
            f"{path}: export format {version!r}; this merbench reads format {FORMAT_VERSION}. "
            "Export the model again with this merbench."
        )
    check_manifest(manifest, str(path))
    return dict(manifest)


def check_members(folder: Path) -> None:
    """Refuse an export folder holding a link, or anything that resolves outside it: a
    ``model.json`` or weights file linked from elsewhere is not the exported one.

    Raises:
        ConfigError: naming the member and where it points.
    """
    root = folder.resolve()
    for member in sorted(folder.iterdir()):
        target = member.resolve()
        if member.is_symlink() or target.parent != root:
            raise ConfigError(
                f"{member}: a link to {target}; an export folder holds its own files and the "
                "member was not read. Copy the file itself into the folder, or export again."
            )


def weights_path(folder: Path, manifest: Mapping[str, Any]) -> Path:
    """The weights file, after checking its sha256 against ``model.json``.

    Raises:
        ConfigError: an unknown format, a missing file, or another sha256 (the file changed).
    """
    weights = manifest.get("weights") or {}
    expected = WEIGHT_FORMATS.get(str(weights.get("format")))
    if expected is None or weights.get("file") != expected:
        raise ConfigError(
            f"{folder / MODEL_JSON}: weights {weights.get('file')!r} in format "
            f"{weights.get('format')!r}; merbench loads only {TORCH_WEIGHTS} (safetensors) or "
            f"{SKLEARN_WEIGHTS} (skops). Export the model again."
        )
    path = folder / expected
    if not path.is_file():
        raise ConfigError(f"{path}: missing. Copy the whole export folder, or export again.")
    actual = sha256_of(path)
    if actual != weights.get("sha256"):
        raise ConfigError(
            f"{path}: sha256 {actual[:16]}... differs from {str(weights.get('sha256'))[:16]}... "
            f"recorded in {MODEL_JSON}: the file was changed after export; it was not loaded. "
            "Use the exported file, or export again."
        )
    return path


def check_plugins(manifest: Mapping[str, Any], where: Path) -> None:
    """Refuse an export whose plugin distributions are missing or at another major version.

    Raises:
        PluginError: naming every such distribution and the version it needs.
    """
    problems = []
    for plugin in manifest.get("plugins") or []:
        name, needed = str(plugin["distribution"]), str(plugin["version"])
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed (needs {_major(needed)}.x, exported with "
                            f"{needed})")  # fmt: skip
            continue
        if _major(installed) != _major(needed):
            problems.append(
                f"{name} {installed} is installed, the model needs {_major(needed)}.x "
                f"(exported with {needed})"
            )
    if problems:
        raise PluginError(
            f"{where}: the model's plugins do not match: {'; '.join(problems)}. Install "
            "those versions (pip install 'NAME==MAJOR.*') to use this model."
        )


def _major(version: str) -> str:
    return version.split(".")[0]


def score_columns(task: TaskSpec, kind: str | None) -> list[str]:
    """The class-score columns: ``proba_<label>`` for probabilities, else ``score_<label>``."""
    from merbench.exchange.predictions import proba_columns

    if kind == "probabilities":
        return proba_columns(task)
    return [f"score_{label}" for label in task.labels]
