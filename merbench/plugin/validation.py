"""Record validation: why a record a plugin yielded is refused, in one line, or ``""``.

The registry calls :func:`validate_record` on every record at discovery; nothing here imports
a plugin's builder: a ``"module:attribute"`` string is checked for its form only
(``merbench.plugin.lazy``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import PurePosixPath

from merbench.plugin.lazy import target_problem
from merbench.plugin.specs import (
    CHECKSUM_PATTERN,
    INPUT_KINDS,
    NAME_PATTERN,
    SOURCE_KINDS,
    SPEC_TYPES,
    SPLIT_PROTOCOLS,
    TASKS,
    DatasetSpec,
    DataSource,
    ModelSpec,
    PublishedResult,
    SourceFile,
)
from merbench.plugin.torch_space import optimiser_problem
from merbench.space import is_distribution


def validate_record(kind: str, record: object) -> str:
    """Return why ``record`` is not a valid ``kind`` record, or ``""`` when it is."""
    expected = SPEC_TYPES[kind]
    if not isinstance(record, expected):
        return f"yielded {type(record).__name__}, expected merbench.{expected.__name__}. Skipped."
    name = record.name
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        return (
            f"{kind} name {name!r} is invalid: use 1-32 lower-case letters, digits and '-', "
            "starting with a letter (e.g. 'learnable-mel'). Skipped."
        )
    where = f"{kind} '{name}'"
    return _builder_problem(where, record) or _validate_fields(where, record)


def _builder_problem(where: str, record: object) -> str:
    """Why the record's builder is unusable; a ``"module:attribute"`` string is not imported."""
    field = "load" if isinstance(record, DatasetSpec) else "build"
    builder = getattr(record, field, None)
    if not callable(builder) and not isinstance(builder, str):
        return f"{where} has no callable build/load. Skipped."
    verify = getattr(record, "verify", None)
    problem = target_problem(builder, field) or (
        target_problem(verify, "verify") if isinstance(verify, str) else ""
    )
    return f"{where}: {problem}. Skipped." if problem else ""


def _validate_fields(where: str, record: object) -> str:
    space: Mapping[str, object] = getattr(record, "search_space", {})
    bad = [k for k, v in space.items() if not is_distribution(v)]
    if bad:
        return (
            f"{where}: search_space['{bad[0]}'] is not a distribution. "
            "Use e.g. merbench.space.FloatDistribution(0.0, 0.5). Skipped."
        )
    kinds = [k for k in getattr(record, "accepts", ()) if k not in INPUT_KINDS]
    output = getattr(record, "output", None)
    if output is not None and output not in INPUT_KINDS:
        kinds.append(output)
    if kinds:
        return f"{where}: input kind {kinds[:1] or '()'} is not one of {', '.join(INPUT_KINDS)}."
    tasks = [t for t in getattr(record, "tasks", ()) if t not in TASKS]
    if tasks:
        return f"{where}: task '{tasks[0]}' is not one of {', '.join(TASKS)}. Skipped."
    if isinstance(record, ModelSpec) and optimiser_problem(record):
        return f"{where}: {optimiser_problem(record)}. Skipped."
    problem = _validate_literature(where, getattr(record, "literature", ()))
    if not problem and isinstance(record, DatasetSpec) and record.source is not None:
        source = source_problem(record.source)
        problem = f"{where}: source {source} Skipped." if source else ""
    return problem


def _validate_literature(where: str, literature: object) -> str:
    """Return why a dataset's ``literature`` is invalid, or ``""``."""
    if not isinstance(literature, tuple):
        return (
            f"{where}: literature is a {type(literature).__name__}; use a tuple of "
            "merbench.PublishedResult. Skipped."
        )
    for index, entry in enumerate(literature):
        problem = _result_problem(entry)
        if problem:
            return f"{where}: literature[{index}] {problem} Skipped."
    return ""


def _result_problem(entry: object) -> str:
    """Return what is wrong with one published result, or ``""``."""
    if not isinstance(entry, PublishedResult):
        return f"is a {type(entry).__name__}, expected merbench.PublishedResult."
    if entry.protocol not in SPLIT_PROTOCOLS:
        return f"protocol {entry.protocol!r} is not one of {', '.join(SPLIT_PROTOCOLS)}."
    if entry.task not in TASKS:
        return f"task {entry.task!r} is not one of {', '.join(TASKS)}."
    score = entry.score
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        return f"score {score!r} is not a finite number."
    for name in ("metric", "model", "source"):
        text = getattr(entry, name)
        if not isinstance(text, str) or not text.strip():
            return f"{name} {text!r} is not a non-empty string."
    if not isinstance(entry.note, str):
        return f"note {entry.note!r} is not a string."
    return ""


_ZENODO_RECORD = re.compile(r"^[0-9]+$")
_HUB_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def source_problem(source: object) -> str:
    """Return what is wrong with a dataset's ``source``, or ``""``."""
    if not isinstance(source, DataSource):
        return f"is a {type(source).__name__}, expected merbench.DataSource."
    if source.kind not in SOURCE_KINDS:
        return f"kind {source.kind!r} is not one of {', '.join(SOURCE_KINDS)}."
    if not isinstance(source.license, str) or not source.license.strip():
        return "has no license: name the licence (or the terms) its files come under."
    needs = {
        "files": (bool(source.files), "lists no files"),
        "zenodo": (bool(_ZENODO_RECORD.match(source.record)), "record is not a Zenodo id"),
        "hub": (bool(_HUB_REPO.match(source.record)), "record is not a Hub 'org/name'"),
        "manual": (bool(source.steps), "has no steps to print"),
    }
    ok, why = needs[source.kind]
    if not ok:
        return f"{why} (record {source.record!r})." if source.record else f"{why}."
    if not _is_relative(source.root):
        return f"root {source.root!r} is not a relative path inside the download folder."
    for index, entry in enumerate(source.files):
        problem = _file_problem(entry, source.kind)
        if problem:
            return f"files[{index}] {problem}"
    return _variants_problem(source.variants)


def _variants_problem(variants: object) -> str:
    """Return what is wrong with a source's ``variants``, or ``""``."""
    if not isinstance(variants, Mapping):
        return f"variants is a {type(variants).__name__}; use a dict of name -> DataSource."
    for name, variant in variants.items():
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            return f"variant name {name!r} is invalid: use lower-case letters, digits and '-'."
        if isinstance(variant, DataSource) and variant.variants:
            return f"variant {name!r} has variants of its own; list every variant on the source."
        problem = source_problem(variant)
        if problem:
            return f"variant {name!r} {problem}"
    return ""


def _file_problem(entry: object, kind: str) -> str:
    """Return what is wrong with one file of a source, or ``""``."""
    if not isinstance(entry, SourceFile):
        return f"is a {type(entry).__name__}, expected merbench.SourceFile."
    if kind == "files" and not entry.url.startswith(("https://", "http://")):
        return f"url {entry.url!r} is not an http(s) URL."
    name = entry.filename
    if not name or "/" in name or "\\" in name or name in {".", ".."}:
        return f"name {name!r} is not a plain file name."
    if entry.checksum and not CHECKSUM_PATTERN.match(entry.checksum):
        return f"checksum {entry.checksum!r} is not 'sha256:<64 hex>' or 'md5:<32 hex>'."
    for label, path in (("unpack", entry.unpack), ("folder", entry.folder)):
        if path is not None and not _is_relative(path):
            return f"{label} {path!r} is not a relative path inside the download folder."
    return ""


def _is_relative(path: object) -> bool:
    """Whether ``path`` names a place inside a folder: relative, no ``..``, no drive."""
    if not isinstance(path, str):
        return False
    pure = PurePosixPath(path.replace("\\", "/"))
    return not pure.is_absolute() and ".." not in pure.parts and ":" not in path
