"""Pretrained weights for the encoder front-ends: where they are, what they are, how they load.

Weights are looked for, in order:

1. ``$MERBENCH_ENCODERS/<org>--<name>/`` (``m-a-p/MERT-v0`` -> ``m-a-p--MERT-v0``): a folder as
   ``save_pretrained`` writes it, ``config.json`` and ``model.safetensors`` (or the publisher's
   ``pytorch_model.bin``), and optionally ``preprocessor_config.json``;
2. the Hugging Face Hub, downloaded on first use into merbench's cache folder
   (``cache_dir("encoders", "hub")``) by ``huggingface_hub`` and read from there afterwards.

Offline with neither, the error is one line naming the model and both ways to provide it.
Only the model classes of ``transformers`` named by each encoder are used: never remote code.
Safetensors files are read with ``use_safetensors=True``; a ``.bin`` checkpoint (where the
publisher gives no safetensors) is read by ``torch.load(weights_only=True)``, which refuses
anything but tensors.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merbench.errors import PluginError
from merbench.paths import cache_dir

WEIGHTS_ENV = "MERBENCH_ENCODERS"
EXTRA = 'pip install "merbench[encoders]"'
SAFETENSORS = "model.safetensors"
PICKLED = "pytorch_model.bin"
CONFIG = "config.json"
PREPROCESSOR = "preprocessor_config.json"


def missing_extra(frontend: str) -> str:
    """Why ``frontend`` cannot run here (``""`` when it can): the extra is not installed."""
    import importlib.util

    try:
        found = all(importlib.util.find_spec(m) for m in ("transformers", "huggingface_hub"))
    except (ImportError, ValueError):  # a module set to None in sys.modules, or half-installed
        found = False
    if found:
        return ""
    return f"front-end '{frontend}' needs the optional encoders extra: {EXTRA}"


def require_extra(frontend: str) -> None:
    """Raise ``PluginError`` (one line) when the encoders extra is not installed."""
    reason = missing_extra(frontend)
    if reason:
        raise PluginError(f"{reason}.")


def folder_name(model_id: str) -> str:
    """The local folder of a model id: ``org/name`` -> ``org--name``."""
    return model_id.replace("/", "--")


def offline_message(frontend: str, model_id: str) -> str:
    """The one line given when the weights are neither local nor downloadable."""
    folder = folder_name(model_id)
    return (
        f"front-end '{frontend}': no local copy of {model_id} and it cannot be downloaded. "
        f"Put it in ${WEIGHTS_ENV}/{folder}/ (hf download {model_id} "
        f'--local-dir "${WEIGHTS_ENV}/{folder}") or connect once to download it.'
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Weights:
    """A located copy of a model's files.

    Attributes:
        model_id: the Hub id, e.g. ``m-a-p/MERT-v0``.
        folder: the folder holding ``config.json`` and the weight file.
        weights: the weight file (safetensors, or the publisher's ``pytorch_model.bin``).
        source: ``"local"`` (``$MERBENCH_ENCODERS``) or ``"hub"`` (downloaded, cached).
        revision: the Hub commit of a downloaded copy; the requested revision or ``"local"``.
    """

    model_id: str
    folder: Path
    weights: Path
    source: str
    revision: str

    @property
    def is_safetensors(self) -> bool:
        return self.weights.name.endswith(".safetensors")

    def config(self) -> dict[str, Any]:
        """The model's ``config.json``."""
        loaded: dict[str, Any] = json.loads((self.folder / CONFIG).read_text())
        return loaded

    def preprocessor(self) -> dict[str, Any]:
        """The ``preprocessor_config.json`` beside the weights (empty when there is none)."""
        path = self.folder / PREPROCESSOR
        if not path.is_file():
            return {}
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded

    def describe(self) -> dict[str, Any]:
        """Model id, revision, source and the sha256 of each file the model is built from."""
        files = [self.folder / CONFIG, self.weights]
        files += [p for p in (self.folder / PREPROCESSOR,) if p.is_file()]
        return {
            "model_id": self.model_id,
            "revision": self.revision,
            "source": self.source,
            "sha256": {p.name: file_sha256(p) for p in files},
        }


def file_sha256(path: Path) -> str:
    """The sha256 of a file, computed once per path, size and modification time."""
    status = path.stat()
    return _sha256(str(path.resolve()), status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate(frontend: str, model_id: str, revision: str) -> Weights:
    """Find (or download) a model's files; see the module docstring for the order.

    Raises:
        PluginError: a local folder without weights, or no copy and no way to download one.
    """
    root = os.environ.get(WEIGHTS_ENV)
    if root:
        folder = Path(root).expanduser() / folder_name(model_id)
        if (folder / CONFIG).is_file():
            return Weights(
                model_id=model_id,
                folder=folder,
                weights=_weight_file(frontend, folder),
                source="local",
                revision="local",
            )
    return _download(frontend, model_id, revision)


def _weight_file(frontend: str, folder: Path) -> Path:
    for name in (SAFETENSORS, PICKLED):
        if (folder / name).is_file():
            return folder / name
    raise PluginError(
        f"front-end '{frontend}': {folder} has {CONFIG} but no {SAFETENSORS} (or {PICKLED}). "
        "Save the model there with save_pretrained(), or download its weight file into it."
    )


_DOWNLOADED: dict[tuple[str, str, str], Weights] = {}
"""Copies found on the Hub in this process: the core asks for an encoder's description at every
feature look-up, and each Hub look-up costs a request."""


def _download(frontend: str, model_id: str, revision: str) -> Weights:
    """Fetch config, weights and preprocessor config from the Hub into the cache folder."""
    hub = cache_dir("encoders", "hub")
    key = (model_id, revision, str(hub))
    found = _DOWNLOADED.get(key)
    if found is None or not found.weights.is_file():
        found = _DOWNLOADED[key] = _fetch(frontend, model_id, revision, hub)
    return found


def _fetch(frontend: str, model_id: str, revision: str, hub: Path) -> Weights:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RemoteEntryNotFoundError

    def fetch(name: str) -> Path:
        return Path(hf_hub_download(model_id, name, revision=revision, cache_dir=hub))

    try:
        config = fetch(CONFIG)
        try:
            weights = fetch(SAFETENSORS)
        except EntryNotFoundError:  # not published (or, offline, not cached): the .bin
            weights = fetch(PICKLED)
        try:
            fetch(PREPROCESSOR)
        except EntryNotFoundError:  # optional
            pass
    except RemoteEntryNotFoundError as exc:
        raise PluginError(f"front-end '{frontend}': {model_id} lacks a file ({exc}).") from None
    except Exception as exc:  # offline, unreachable, unknown repository, gated
        raise PluginError(f"{offline_message(frontend, model_id)} ({type(exc).__name__})") from None
    # Hub snapshots live in .../snapshots/<commit>/: the commit is the revision downloaded.
    return Weights(
        model_id=model_id,
        folder=config.parent,
        weights=weights,
        source="hub",
        revision=config.parent.name,
    )


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence ``transformers``' logs (but errors) and progress bars, then restore them."""
    from transformers.utils import logging as transformers_logging

    verbosity = transformers_logging.get_verbosity()
    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        if bars:
            transformers_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def load_model(model_class: Any, weights: Weights, frontend: str, model_type: str) -> Any:
    """Build ``model_class`` from located weights, frozen, in evaluation mode.

    Raises:
        PluginError: the folder's config names another architecture (remote code is never run).
    """
    found = weights.config().get("model_type")
    if found != model_type:
        raise PluginError(
            f"front-end '{frontend}': {weights.folder / CONFIG} has model_type {found!r}, "
            f"not {model_type!r}; merbench loads only {model_class.__name__} checkpoints "
            f"(never remote code). Provide {weights.model_id} there."
        )
    # transformers reports every unexpected key (a checkpoint's pretraining heads) and draws a
    # progress bar; missing keys are what matters, and they fail below.
    with quiet_transformers():
        model, info = model_class.from_pretrained(
            weights.folder,
            local_files_only=True,
            use_safetensors=weights.is_safetensors,
            weights_only=True,
            output_loading_info=True,
        )
    missing = sorted(info.get("missing_keys", ()))
    if missing:
        raise PluginError(
            f"front-end '{frontend}': {weights.weights} lacks {len(missing)} of "
            f"{model_class.__name__}'s weights (e.g. {missing[0]}): not a {weights.model_id} "
            "checkpoint. Provide the model's own files."
        )
    model.eval()
    model.requires_grad_(False)
    return model
