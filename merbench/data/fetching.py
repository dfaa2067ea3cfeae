"""One file fetched over HTTP(S): resumed from a ``.part`` file, checked against its digest.

A file is written to ``NAME.part`` beside its final name; ``NAME.part.json`` keeps the URL, the
server's ``ETag`` and length. A rerun after an interruption asks for the missing bytes only
(``Range``, with ``If-Range`` so a file changed on the server is fetched anew, not spliced).
Once complete, the file's sha256 (and md5 where the source gives one) is computed in one pass
and checked; only then is it renamed to its final name. ``MERBENCH_MIRROR`` points every URL at
a mirror: ``https://host/path`` is fetched from ``$MERBENCH_MIRROR/host/path``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from merbench.errors import DatasetError

if TYPE_CHECKING:
    import httpx2

MIRROR_ENV = "MERBENCH_MIRROR"
CHUNK_BYTES = 1 << 20
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class Progress(Protocol):
    """What a download reports: the CLI draws it as rich progress bars."""

    def started(self, name: str, total: int | None, done: int) -> None:
        """A file's transfer starts with ``done`` of ``total`` bytes already here."""

    def advanced(self, name: str, size: int) -> None:
        """``size`` more bytes of ``name`` arrived."""

    def finished(self, name: str, note: str) -> None:
        """``name`` is complete (``note``: fetched, already here, unpacked, ...)."""


class NoProgress:
    """A ``Progress`` that reports nothing."""

    def started(self, name: str, total: int | None, done: int) -> None:
        """Report nothing."""

    def advanced(self, name: str, size: int) -> None:
        """Report nothing."""

    def finished(self, name: str, note: str) -> None:
        """Report nothing."""


@dataclass(frozen=True, kw_only=True)
class Wanted:
    """A file to fetch: where from, where to, and what it must be."""

    url: str
    target: Path
    checksum: str = ""
    """``"sha256:<hex>"``, ``"md5:<hex>"`` or ``""`` (none published)."""
    size: int | None = None


def mirrored(url: str) -> str:
    """``url`` as fetched: from ``$MERBENCH_MIRROR/<host>/<path>`` when a mirror is set."""
    base = os.environ.get(MIRROR_ENV, "").rstrip("/")
    if not base:
        return url
    parts = urlsplit(url)
    return f"{base}/{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def digests(path: Path) -> dict[str, str]:
    """The sha256 and md5 of a file, in one pass: ``{"sha256": hex, "md5": hex}``."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            sha256.update(block)
            md5.update(block)
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def check_digest(path: Path, checksum: str, *, shown: str) -> dict[str, str]:
    """Return ``path``'s digests; a mismatch with ``checksum`` removes it.

    Raises:
        DatasetError: naming the file, the expected and the computed digests.
    """
    found = digests(path)
    if not checksum:
        return found
    algorithm, expected = checksum.split(":", 1)
    if found[algorithm] != expected:
        path.unlink(missing_ok=True)
        raise DatasetError(
            f"{shown}: checksum mismatch, expected {checksum}, got {algorithm}:"
            f"{found[algorithm]}. The file was removed: run the same command again to fetch "
            f"it anew (if it fails again, the source or {MIRROR_ENV} serves another file)."
        )
    return found


def fetch(wanted: Wanted, client: httpx2.Client, progress: Progress) -> dict[str, str]:
    """Fetch ``wanted`` to its target, resuming a ``.part`` file; return its digests.

    Raises:
        DatasetError: the server refuses, the connection drops (the bytes fetched are kept:
            a rerun resumes), the disk is full (likewise), or the digest does not match (the
            file is removed: a rerun fetches it anew).
    """
    import httpx2

    part, state_file = _part_files(wanted.target)
    wanted.target.parent.mkdir(parents=True, exist_ok=True)
    state = _read_state(state_file, wanted.url)
    done = part.stat().st_size if part.exists() and state else 0
    if done and done == state.get("length"):
        return _complete(wanted, part, state_file, progress)
    url = mirrored(wanted.url)
    try:
        total = _stream(client, url, wanted, done, state, progress)
    except httpx2.TransportError as exc:
        have = part.stat().st_size if part.exists() else 0
        raise DatasetError(
            f"{url}: the connection failed after {have:,} bytes ({type(exc).__name__}: "
            f"{exc}). {part.name} is kept: run the same command again to resume."
        ) from None
    if total is not None and part.stat().st_size != total:
        raise DatasetError(
            f"{url}: the server sent {part.stat().st_size:,} of {total:,} bytes. "
            f"{part.name} is kept: run the same command again to resume."
        )
    return _complete(wanted, part, state_file, progress)


def _part_files(target: Path) -> tuple[Path, Path]:
    """The ``.part`` file of ``target`` and its ``.part.json``."""
    return target.with_name(target.name + ".part"), target.with_name(target.name + ".part.json")


def _stream(
    client: httpx2.Client,
    url: str,
    wanted: Wanted,
    done: int,
    state: dict[str, object],
    progress: Progress,
) -> int | None:
    """GET the file (its missing bytes, when ``done``) into its ``.part``; return its length.

    The bytes are written as they came (``identity`` asked, nothing decoded), so a ``.tar.gz``
    stays what its checksum describes.
    """
    part, state_file = _part_files(wanted.target)
    headers = {"Accept-Encoding": "identity"}
    if done:
        headers["Range"] = f"bytes={done}-"
        if state.get("etag"):
            headers["If-Range"] = str(state["etag"])
    with client.stream("GET", url, headers=headers, follow_redirects=True) as response:
        if response.status_code == 416 and done:
            part.unlink(missing_ok=True)
            state_file.unlink(missing_ok=True)
            raise DatasetError(
                f"{url}: the server cannot resume {part.name} (HTTP 416); it was removed: run "
                "the same command again to fetch the file anew."
            )
        if response.status_code >= 400:
            raise DatasetError(
                f"{url}: the server answered HTTP {response.status_code}. Check the address "
                f"(and {MIRROR_ENV}, if set), or try again later."
            )
        resumed = bool(done) and response.status_code == 206
        total = _total(response, done if resumed else 0, url, wanted.size)
        fresh = {"url": wanted.url, "etag": response.headers.get("etag"), "length": total}
        state_file.write_text(json.dumps(fresh), encoding="utf-8")
        progress.started(wanted.target.name, total, done if resumed else 0)
        with _writing(part, "ab" if resumed else "wb", total) as handle:
            for chunk in response.iter_raw():
                handle.write(chunk)
                progress.advanced(wanted.target.name, len(chunk))
    return total


def _complete(wanted: Wanted, part: Path, state_file: Path, progress: Progress) -> dict[str, str]:
    """Check a complete ``.part`` file's digest, then give it its final name."""
    try:
        found = check_digest(part, wanted.checksum, shown=wanted.target.name)
    finally:
        if not part.exists():
            state_file.unlink(missing_ok=True)
    os.replace(part, wanted.target)
    state_file.unlink(missing_ok=True)
    progress.finished(wanted.target.name, "fetched")
    return found


def _read_state(path: Path, url: str) -> dict[str, object]:
    """The ``.part.json`` of an earlier try at the same URL (``{}`` when none or another)."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) and state.get("url") == url else {}


def _total(response: httpx2.Response, done: int, url: str, expected: int | None) -> int | None:
    """The file's full length from ``Content-Range`` or ``Content-Length``, checked."""
    total: int | None = None
    match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
    if response.status_code == 206 and match and match.group(3) != "*":
        total = int(match.group(3))
    elif response.status_code == 206:
        total = None
    elif response.headers.get("content-length", "").isdigit():
        total = int(response.headers["content-length"])
    if response.status_code == 206 and match and int(match.group(1)) != done:
        raise DatasetError(f"{url}: the server resumed at byte {match.group(1)}, not {done}.")
    if total is not None and expected is not None and total != expected:
        raise DatasetError(
            f"{url}: the server's file has {total:,} bytes, the source declares {expected:,}. "
            "The dataset may have changed: check its page."
        )
    return total


def open_part(part: Path, mode: str) -> IO[bytes]:
    """Open a ``.part`` file for writing (one place, so tests can fill the disk)."""
    return part.open(mode)


@contextlib.contextmanager
def _writing(part: Path, mode: str, total: int | None) -> Iterator[IO[bytes]]:
    """Open ``part`` for writing; a full disk becomes one line (the bytes written are kept)."""
    try:
        with open_part(part, mode) as handle:
            yield handle
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        have = part.stat().st_size if part.exists() else 0
        of = f" of {total:,}" if total is not None else ""
        raise DatasetError(
            f"{part}: the disk is full after {have:,}{of} bytes. What was fetched is kept: "
            f"free some space (or choose another --to) and run the same command again to resume."
        ) from None
