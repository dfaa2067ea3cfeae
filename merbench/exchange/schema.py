"""The declared shape of ``model.json``: every key, its type and its bounds, checked before any
value is used.

``MANIFEST_SCHEMA`` is data, a subset of JSON Schema (``type``, ``properties``, ``required``,
``additionalProperties``, ``items``, ``prefixItems``, ``minItems``/``maxItems``,
``maxProperties``, ``minimum``/``maximum``, ``exclusiveMinimum``, ``enum``, ``anyOf``,
``maxLength``, ``pattern``), read by ``check_schema``, a validator of that subset. Bounds keep
every number of an edited ``model.json`` from sizing an allocation: a sample rate of 1 to 192 kHz,
a hop of at least 5% of the window, windows of at most a minute, front-end sizes (``n_fft``,
``n_mels``, ``hop_length``, ...) in the ranges a spectrogram uses. ``check_manifest`` adds the
checks across keys (a known task, as many scaler values as its targets, a label scale whose low
is below its high).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from merbench.errors import ConfigError
from merbench.evaluation.tasks import TASK_SPECS

MAX_MANIFEST_BYTES = 1 << 20
"""The largest ``model.json`` read (an export's is a few kilobytes)."""

_NAME: dict[str, Any] = {"type": "string", "maxLength": 64}
MAX_TAGS = 512
"""The most targets ``model.json`` may name: a multilabel task's tags (MTG-Jamendo has 56 mood
and theme tags, 195 in all)."""
_TEXT: dict[str, Any] = {"type": "string", "maxLength": 1000}
_SHA256: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_FINITE: dict[str, Any] = {"type": "number", "minimum": -1e9, "maximum": 1e9}
_VALUE: dict[str, Any] = {
    "type": ["string", "number", "boolean", "null"],
    "maxLength": 1000,
    "minimum": -1e12,
    "maximum": 1e12,
}
"""A hyperparameter's value."""
_RATE: dict[str, Any] = {"type": "integer", "minimum": 1000, "maximum": 192000}
_ANY: dict[str, Any] = {}
"""Provenance no code reads (still within the file's size and depth)."""


def _record(
    required: Mapping[str, Any],
    optional: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An object with ``required`` and ``optional`` keys; other keys only when ``extra`` gives
    their schema (``maxProperties`` 256)."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False if extra is None else extra,
        "maxProperties": 256,
    }


def _array(items: Mapping[str, Any], max_items: int, min_items: int = 0) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": min_items, "maxItems": max_items}


def _nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, schema]}


def _int(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


FRONTEND_PARAMS: dict[str, Any] = _record(
    {},
    {
        "n_fft": _int(16, 16384),
        "win_length": _int(16, 16384),
        "hop_length": _int(16, 65536),
        "n_mels": _int(1, 512),
        "n_bins": _int(1, 1024),
        "n_mfcc": _int(1, 256),
        "bins_per_octave": _int(1, 96),
        "n_filters": _int(1, 1024),
        "fmin": {"type": "number", "minimum": 0, "maximum": 96000},
        "fmax": {"type": "number", "minimum": 0, "maximum": 96000},
    },
    extra=_VALUE,
)
"""A front-end's tuned parameters: the sizes a spectrogram front-end allocates are bounded
whatever the plugin; every other value is a scalar."""

_FRONTEND = _record(
    {
        "name": _NAME,
        "output": _NAME,
        "trainable": {"type": "boolean"},
        "params": FRONTEND_PARAMS,
    },
    {
        "defaults": _record({}, extra={"type": "string", "maxLength": 1000}),
        "sample_rate": _RATE,
        "weights": _record(
            {},
            {
                "model_id": _nullable(_TEXT),
                "revision": _nullable(_TEXT),
                "source": _nullable(_TEXT),
                "sha256": _record({}, extra=_SHA256),
            },
            extra=_ANY,
        ),
    },
)

_AUDIO = _record(
    {
        "sample_rate": _RATE,
        "mono": {"type": "boolean"},
        "crop": {"enum": ["start", "centre", "random"]},
        "window_seconds": {"type": "number", "minimum": 0.1, "maximum": 60.0},
        "hop_fraction": {"type": "number", "minimum": 0.05, "maximum": 1.0},
        "windowing": {"enum": ["all", "single"]},
        "max_seconds": _nullable({"type": "number", "minimum": 0.1, "maximum": 3600.0}),
    }
)
"""How audio becomes windows: a hop of at least 5% of the window keeps a file's windows to 20
per window length."""

_SCALES = _array(_FINITE, 16, 1)

_BUDGET = _record(
    {
        "name": _NAME,
        "outer_folds": _int(2, 1000),
        "repeats": _int(1, 1000),
        "trials": _int(1, 1_000_000),
        "epochs": _int(1, 1_000_000),
        "patience": _int(1, 1_000_000),
        "batch_size": _int(2, 65536),
        "clip_seconds": {"type": "number", "minimum": 0.1, "maximum": 60.0},
        "valid_fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.9},
        "hop_fraction": {"type": "number", "minimum": 0.05, "maximum": 1.0},
    }
)
"""The run's budget (``merbench.evaluation.budgets.Budget``): a torch build may size itself by
the window (``clip_seconds``)."""

MANIFEST_SCHEMA: dict[str, Any] = _record(
    {
        "format_version": {"type": "integer"},
        "merbench_version": _TEXT,
        "candidate": {"type": "string", "maxLength": 300},
        "model": _record({"name": _NAME, "family": _NAME}),
        "model_params": _record({}, extra=_VALUE),
        "frontends": _array(_FRONTEND, 8, 1),
        "augmentations": _array(_NAME, 16),
        "params": _record({}, extra=_VALUE),
        "params_chosen": {"type": "object"},
        "task": _record(
            {
                "name": _NAME,
                "kind": {"enum": ["regression", "classification", "multilabel"]},
                "targets": _array(_NAME, MAX_TAGS),
                "classes": _array(
                    {
                        "type": "array",
                        "prefixItems": [_int(-1000, 1000), _NAME],
                        "minItems": 2,
                        "maxItems": 2,
                    },
                    64,
                ),
            }
        ),
        "dataset": _record(
            {
                "name": _NAME,
                "plugin": _NAME,
                "n_tracks": _int(0, 10_000_000),
                "label_scale": _record(
                    {"low": _FINITE, "high": _FINITE, "targets": _array(_NAME, 16)}
                ),
            }
        ),
        "target_scaler": _nullable(
            _record(
                {
                    "mean": _SCALES,
                    "std": _array({"type": "number", "exclusiveMinimum": 0, "maximum": 1e9}, 16, 1),
                }
            )
        ),
        "rescaling": _nullable(
            _record(
                {
                    "slopes": _array({"type": "number", "minimum": -1e3, "maximum": 1e3}, 16, 1),
                    "centre": _SCALES,
                }
            )
        ),
        "audio": _AUDIO,
        "windows": {"type": "object"},
        "precision": {"enum": ["fp32", "bf16"]},
        "budget": _BUDGET,
        "plugins": _array(
            _record({"distribution": _TEXT, "version": _TEXT}, {"provides": _array(_TEXT, 64)}),
            32,
        ),
        "run": {"type": "object"},
        "n_params": _nullable(_int(0, 10**12)),
        "class_scores": {"enum": [None, "probabilities", "decision"]},
        "weights": _record(
            {
                "file": {"enum": ["model.safetensors", "model.skops"]},
                "format": {"enum": ["safetensors", "skops"]},
                "sha256": _SHA256,
            }
        ),
    },
    {"files": _record({}, extra=_record({"sha256": _SHA256}))},
)
"""Every key of ``model.json`` (``docs/export.md``), its type and its bounds."""

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def check_schema(value: Any, schema: Mapping[str, Any], where: str, field: str = "") -> None:
    """Check ``value`` against ``schema`` (the subset of JSON Schema this module declares).

    Args:
        value: the parsed JSON.
        schema: ``MANIFEST_SCHEMA`` or a part of it.
        where: the file, for messages.
        field: the dotted path of ``value`` in the file (``audio.sample_rate``).

    Raises:
        ConfigError: naming the file, the field, what it must be and what it is.
    """
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                check_schema(value, option, where, field)
                return
            except ConfigError as exc:
                errors.append(exc)
        raise errors[-1]
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(_show(v) for v in schema["enum"])
        _refuse(where, field, f"must be one of {choices}", value)
    if "type" in schema:
        _check_type(value, schema, where, field)
    if isinstance(value, dict):
        _check_object(value, schema, where, field)
    elif isinstance(value, list):
        _check_array(value, schema, where, field)


def _check_type(value: Any, schema: Mapping[str, Any], where: str, field: str) -> None:
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    is_bool = isinstance(value, bool)
    if not any(isinstance(value, _TYPES[k]) and (k == "boolean" or not is_bool) for k in kinds):
        _refuse(where, field, f"must be {' or '.join(_article(k) for k in kinds)}", value)
    if isinstance(value, str):
        if len(value) > schema.get("maxLength", math.inf):
            _refuse(where, field, f"must be at most {schema['maxLength']} characters long", value)
        if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
            _refuse(where, field, f"must match {schema['pattern']}", value)
    if isinstance(value, int | float) and not is_bool:
        _check_number(value, schema, where, field)


def _check_number(value: float, schema: Mapping[str, Any], where: str, field: str) -> None:
    low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
    above = schema.get("exclusiveMinimum")
    if not math.isfinite(value):
        _refuse(where, field, "must be a finite number", value)
    if above is not None and not value > above:
        _refuse(where, field, f"must be > {above:g} and <= {high:g}", value)
    if not low <= value <= high:
        _refuse(where, field, f"must be from {low:g} to {high:g}", value)


def _check_object(value: dict[str, Any], schema: Mapping[str, Any], where: str, field: str) -> None:
    properties = schema.get("properties", {})
    missing = [k for k in schema.get("required", ()) if k not in value]
    if missing:
        _refuse(where, _join(field, missing[0]), "is missing", None, shown=False)
    if len(value) > schema.get("maxProperties", math.inf):
        _refuse(where, field, f"must have at most {schema['maxProperties']} keys", value)
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            check_schema(item, properties[key], where, _join(field, key))
        elif extra is False:
            known = ", ".join(properties)
            _refuse(where, _join(field, key), f"is not a key merbench knows ({known})", None,
                    shown=False)  # fmt: skip
        elif isinstance(extra, Mapping):
            check_schema(item, extra, where, _join(field, key))


def _check_array(value: list[Any], schema: Mapping[str, Any], where: str, field: str) -> None:
    low, high = schema.get("minItems", 0), schema.get("maxItems", math.inf)
    if not low <= len(value) <= high:
        _refuse(where, field, f"must hold {low} to {high} items, not {len(value)}", None,
                shown=False)  # fmt: skip
    positional = schema.get("prefixItems", [])
    for index, item in enumerate(value):
        item_schema = positional[index] if index < len(positional) else schema.get("items")
        if item_schema is not None:
            check_schema(item, item_schema, where, f"{field}[{index}]")


def _refuse(where: str, field: str, rule: str, value: Any, *, shown: bool = True) -> NoReturn:
    got = f", got {_show(value)}" if shown else ""
    raise ConfigError(
        f"{where}: '{field or '(top level)'}' {rule}{got}. The file was edited after export; "
        "export the model again with 'merbench export'."
    )


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = "null" if value is None else repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _article(kind: str) -> str:
    return {"object": "an object", "array": "a list", "integer": "an integer", "null": "null"}.get(
        kind, f"a {kind}"
    )


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def check_manifest(manifest: Mapping[str, Any], where: str) -> None:
    """Check ``model.json`` against ``MANIFEST_SCHEMA``, then the rules across its keys.

    Raises:
        ConfigError: the first value that breaks a rule (naming the file and the field).
    """
    check_schema(manifest, MANIFEST_SCHEMA, where)
    name = manifest["task"]["name"]
    spec = TASK_SPECS.get(name)
    if spec is None:
        _refuse(where, "task.name", f"must be one of {', '.join(TASK_SPECS)}", name)
    if spec.is_multilabel and not manifest["task"]["targets"]:
        _refuse(where, "task.targets", f"must name the tags of {name}", None, shown=False)
    if spec.is_regression:
        if manifest["target_scaler"] is None:
            _refuse(where, "target_scaler", "must be given for a regression task", None,
                    shown=False)  # fmt: skip
        sized = {
            "task.targets": manifest["task"]["targets"],
            "target_scaler.mean": manifest["target_scaler"]["mean"],
            "target_scaler.std": manifest["target_scaler"]["std"],
            "dataset.label_scale.targets": manifest["dataset"]["label_scale"]["targets"],
            **_rescaling(manifest["rescaling"]),
        }
        for field, values in sized.items():
            if len(values) != len(spec.targets):
                _refuse(where, field, f"must hold {len(spec.targets)} values (one per target of "
                        f"{name}), not {len(values)}", None, shown=False)  # fmt: skip
    scale = manifest["dataset"]["label_scale"]
    if not scale["low"] < scale["high"]:
        _refuse(where, "dataset.label_scale.high", f"must be above low ({scale['low']:g})",
                scale["high"])  # fmt: skip


def _rescaling(rescaling: Mapping[str, Any] | None) -> dict[str, Any]:
    if rescaling is None:
        return {}
    return {"rescaling.slopes": rescaling["slopes"], "rescaling.centre": rescaling["centre"]}
