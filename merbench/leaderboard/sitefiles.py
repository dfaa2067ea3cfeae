"""The files of a rendered site: written together, listed, and the stale ones removed.

A site is rendered into a fresh folder inside its target, then moved into place file by file;
``.merbench-site.json`` lists the files merbench wrote there. Rendering again removes the files
the previous listing names that this rendering did not write (the pages and plots of candidates
no longer in the run), and nothing else: files people put in the folder stay.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

LISTING = ".merbench-site.json"
"""The listing of the files merbench wrote in a site folder."""
_SCHEMA = 1


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """Give a fresh folder to render into; on success, move its files into ``out``.

    The files ``out``'s previous listing names that the new rendering did not write are
    removed, and the new listing is written.
    """
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".rendering-", dir=out))
    try:
        yield staging
        written = sorted(
            path.relative_to(staging).as_posix() for path in staging.rglob("*") if path.is_file()
        )
        for name in written:
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    remove_stale(out, written)
    listing = {"schema": _SCHEMA, "files": written}
    (out / LISTING).write_text(json.dumps(listing, indent=1) + "\n", encoding="utf-8")


def listed_files(out: Path) -> list[str]:
    """The files the listing in ``out`` names (none when it is missing or unreadable)."""
    try:
        listing = json.loads((out / LISTING).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    files = listing.get("files") if isinstance(listing, dict) else None
    return [name for name in files if isinstance(name, str)] if isinstance(files, list) else []


def remove_stale(out: Path, written: list[str]) -> None:
    """Remove the listed files of ``out`` not in ``written``, then the folders they leave empty.

    A listed name that leaves ``out`` (absolute, or with ``..``) is ignored.
    """
    keep = set(written)
    for name in listed_files(out):
        if name in keep or not _is_inside(name):
            continue
        path = out / name
        _quietly(path.unlink, path)
        parent = path.parent
        while parent != out and parent.is_dir() and not any(parent.iterdir()):
            _quietly(parent.rmdir, parent)
            parent = parent.parent


def _is_inside(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and not PurePosixPath(name).is_absolute() and ".." not in parts


def _quietly(action: Callable[[], None], path: Path) -> None:
    """Remove a stale file or folder; one that is gone or cannot go is left, with a log line."""
    try:
        action()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("Could not remove %s from the site: %s", path, exc)
