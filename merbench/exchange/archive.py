"""What a skops file may allocate, checked from its zip directory and array headers before skops
reads a byte of it.

A skops file is a zip: ``schema.json`` (the object tree) and one ``.npy`` member per array. A
small file can still inflate to gigabytes (a zip bomb: a member of zeros compresses a
thousandfold) or declare arrays far larger than its data. ``check_skops`` bounds, from the zip's
central directory (``zipfile`` never inflates a member past the size declared there): the
members, each member's inflation ratio, the total inflated size against ``skops_budget`` (what
the scikit-learn family's largest built-in model needs for the tracks it was fitted on), the
schema's size and node count, and each array's declared shape times its item size against its
member, with no object arrays.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from merbench.errors import ConfigError

MAX_MEMBERS = 100_000
"""Members of a skops zip (a forest of 200 trees has about a thousand)."""
MAX_RATIO = 100
"""How many times a member may inflate (skops stores members uncompressed: ratio 1)."""
MAX_SCHEMA_BYTES = 16 << 20
"""``schema.json``'s inflated size (a forest of 200 trees: about 2 MiB)."""
MAX_NODES = 1_000_000
"""Objects, lists and values in ``schema.json``."""
MAX_SKOPS_BYTES = 1 << 30
"""The most any skops file may inflate to, whatever its tracks."""
_BASE_BYTES = 64 << 20
_BYTES_PER_TRACK = 48 << 10
"""A random forest of up to 200 trees (the built-in default) grown to single-track leaves holds
two nodes per track and tree, each under 120 bytes with its values: 48 KiB per track."""


def skops_budget(n_tracks: int) -> int:
    """The bytes a skops file fitted on ``n_tracks`` tracks may inflate to (``model.json``'s
    ``dataset.n_tracks``): 64 MiB and 48 KiB per track, at most ``MAX_SKOPS_BYTES``."""
    return min(MAX_SKOPS_BYTES, _BASE_BYTES + _BYTES_PER_TRACK * max(0, n_tracks))


def check_skops(path: Path, budget: int = MAX_SKOPS_BYTES) -> None:
    """Refuse a skops file that would allocate more than ``budget`` bytes when read, before
    skops reads it.

    Raises:
        ConfigError: naming the file, the member and the limit it exceeds.
    """
    size = path.stat().st_size
    if size > budget:
        _refuse(path, f"{size} bytes on disk, more than the {budget} the model may take")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_directory(path, members, budget)
            schema = _read_schema(path, archive)
            _check_nodes(path, schema)
            for member in members:
                if member.filename.endswith(".npy"):
                    with archive.open(member) as stream:
                        _check_array(path, member, stream)
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, OSError) as exc:
        raise ConfigError(
            f"{path}: not a skops file ({exc}); it was not loaded (pickles never are). Export "
            "the model again with 'merbench export'."
        ) from None


def _check_directory(path: Path, members: list[zipfile.ZipInfo], budget: int) -> None:
    if len(members) > MAX_MEMBERS:
        _refuse(path, f"{len(members)} members, more than {MAX_MEMBERS}")
    total = 0
    for member in members:
        inflated = member.file_size
        if inflated > MAX_RATIO * member.compress_size + (64 << 10):
            _refuse(
                path,
                f"member {member.filename!r} inflates {member.compress_size} bytes to "
                f"{inflated}, more than {MAX_RATIO} times (a zip bomb)",
            )
        total += inflated
    if total > budget:
        _refuse(path, f"its members inflate to {total} bytes, more than the {budget} it may take")


def _read_schema(path: Path, archive: zipfile.ZipFile) -> Any:
    member = archive.getinfo("schema.json")
    if member.file_size > MAX_SCHEMA_BYTES:
        _refuse(
            path, f"schema.json inflates to {member.file_size} bytes, more than {MAX_SCHEMA_BYTES}"
        )
    with archive.open(member) as stream:
        data = stream.read(MAX_SCHEMA_BYTES + 1)
    try:
        return json.loads(data)
    except RecursionError:
        _refuse(path, "schema.json is nested too deeply")


def _check_nodes(path: Path, schema: Any) -> None:
    count = 0
    for _ in _nodes(schema):
        count += 1
        if count > MAX_NODES:
            _refuse(path, f"schema.json holds more than {MAX_NODES} nodes")


def _nodes(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_array(path: Path, member: zipfile.ZipInfo, stream: Any) -> None:
    """Refuse a ``.npy`` member whose header declares more bytes than the member holds, or an
    object array (it would need a pickle)."""
    import numpy as np

    header = io.BytesIO(stream.read(1 << 16))
    version = np.lib.format.read_magic(header)
    if version not in ((1, 0), (2, 0)):
        _refuse(path, f"member {member.filename!r} is a .npy file of version {version}")
    read = np.lib.format.read_array_header_1_0
    if version == (2, 0):
        read = np.lib.format.read_array_header_2_0
    shape, _, dtype = read(header)
    if dtype.hasobject:
        _refuse(path, f"member {member.filename!r} holds an object array")
    declared = math.prod(shape) * dtype.itemsize
    if declared > member.file_size:
        _refuse(
            path,
            f"member {member.filename!r} declares a {dtype} array of shape {tuple(shape)} "
            f"({declared} bytes) in {member.file_size} bytes",
        )


def _refuse(path: Path, what: str) -> NoReturn:
    raise ConfigError(
        f"{path}: {what}; it was not loaded. Export the model again with 'merbench export'."
    )
