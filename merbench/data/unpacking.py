"""Archives unpacked safely: into a temporary folder first, then renamed into place.

Tar archives go through ``tarfile``'s ``"data"`` filter (no absolute paths, no ``..``, no links
out of the folder, no devices); zip members are checked before anything is written: an absolute
path, a drive, a ``..`` or a symbolic link refuses the whole archive. Nothing is half-unpacked:
the members land in a hidden temporary folder beside the destination, and only a complete
unpacking is renamed into place.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from merbench.errors import DatasetError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_archive(name: str) -> bool:
    """Whether ``name`` ends like an archive ``unpack`` reads."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def unpack(archive: Path, into: Path) -> list[str]:
    """Unpack ``archive`` into the folder ``into``; return the top-level names it gave.

    An entry of the same name already in ``into`` is replaced (a rerun after the archive
    changed).

    Raises:
        DatasetError: the archive is truncated or corrupt (it is removed, so that a rerun
            fetches it anew), holds a member that would land outside ``into`` (refused, kept),
            or the disk is full (kept); nothing is ever left half-unpacked.
    """
    into.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{archive.name}.", dir=into))
    try:
        if archive.name.lower().endswith(".zip"):
            _unzip(archive, temporary)
        else:
            _untar(archive, temporary)
        names = sorted(entry.name for entry in temporary.iterdir())
        for name in names:
            _replace(temporary / name, into / name)
        return names
    except (zipfile.BadZipFile, tarfile.ReadError, EOFError, zlib.error) as exc:
        archive.unlink(missing_ok=True)
        raise DatasetError(
            f"{archive}: not a complete archive ({exc or type(exc).__name__}); nothing was "
            "unpacked and the archive was removed: run the same command again to fetch it anew."
        ) from None
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise DatasetError(
            f"{into}: the disk is full while unpacking {archive.name}; nothing was unpacked "
            "and the archive is kept. Free some space and run the same command again."
        ) from None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _unzip(archive: Path, folder: Path) -> None:
    """Extract a zip after checking every member's name and type."""
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            problem = _member_problem(member)
            if problem:
                raise DatasetError(
                    f"{archive}: member {member.filename!r} {problem}; the archive was refused "
                    "and nothing was unpacked. Fetch it from the dataset's own page."
                )
        bundle.extractall(folder)


def _member_problem(member: zipfile.ZipInfo) -> str:
    """Why a zip member may not be written, or ``""``."""
    name = member.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or (path.parts and ":" in path.parts[0]):
        return "has an absolute path"
    if ".." in path.parts:
        return "would be written outside the folder ('..')"
    if stat.S_ISLNK(member.external_attr >> 16):
        return "is a symbolic link"
    return ""


def _untar(archive: Path, folder: Path) -> None:
    """Extract a tar archive through the ``"data"`` filter."""
    try:
        with tarfile.open(archive) as bundle:
            bundle.extractall(folder, filter="data")
    except tarfile.FilterError as exc:
        raise DatasetError(
            f"{archive}: {exc}; the archive was refused and nothing was unpacked. Fetch it "
            "from the dataset's own page."
        ) from None


def _replace(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``, replacing what is there."""
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    os.replace(source, target)
