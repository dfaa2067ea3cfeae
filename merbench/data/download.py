"""``merbench download``: a dataset's declared source fetched, checked and unpacked.

A dataset plugin declares a ``DataSource`` (``merbench.plugin.specs``); this module composes
it: the files of a ``files`` source, the files of a Zenodo record (listed with their md5 by
Zenodo's API at download time), or a Hugging Face Hub snapshot (``huggingface_hub`` resumes it
itself). Each HTTP file is fetched by ``merbench.data.fetching`` (resumed, checked) and, when it
is an archive, unpacked by ``merbench.data.unpacking`` and removed.

``merbench-download.json`` in the download folder is the manifest: each file's URL, size and
sha256 as fetched, and whether it was unpacked. A rerun skips what the manifest says is done; a
file whose source publishes no checksum is checked against the manifest's sha256 when it is
fetched again, so a change at the source is noticed.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from merbench.data.fetching import MIRROR_ENV, NoProgress, Progress, Wanted, fetch, mirrored
from merbench.data.unpacking import is_archive, unpack
from merbench.errors import DatasetError
from merbench.plugin.specs import CHECKSUM_PATTERN, DatasetSpec, DataSource, SourceFile

if TYPE_CHECKING:
    import httpx2

log = logging.getLogger(__name__)

MANIFEST = "merbench-download.json"
ZENODO_API = "https://zenodo.org/api/records/{record}"
TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, kw_only=True)
class Downloaded:
    """What a download gave: the folder ``path`` in ``datasets.toml`` points at, and the notes."""

    root: Path
    fetched: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    license: str = ""
    """The licence the source itself states, where it gives one (a Zenodo record's)."""


def source_of(spec: DatasetSpec) -> DataSource:
    """The dataset's source, or one line saying it declares none.

    Raises:
        DatasetError: the dataset has no ``source``.
    """
    if spec.source is None:
        raise DatasetError(
            f"Dataset '{spec.name}' declares no source: merbench cannot fetch it. Get it from "
            f"{spec.homepage or 'its homepage'} and point 'path' in datasets.toml at it."
        )
    return spec.source


def download(
    spec: DatasetSpec,
    folder: Path,
    *,
    progress: Progress | None = None,
    client: httpx2.Client | None = None,
) -> Downloaded:
    """Fetch the dataset's source into ``folder``: what is already complete is not refetched.

    Raises:
        DatasetError: the source is manual (its steps are printed instead), a file cannot be
            fetched, is not what the source declares, or cannot be unpacked.
    """
    source = source_of(spec)
    if source.kind == "manual":
        raise DatasetError(
            f"Dataset '{spec.name}' cannot be fetched programmatically; follow its steps "
            f"('merbench download {spec.name}' prints them)."
        )
    folder.mkdir(parents=True, exist_ok=True)
    progress = progress or NoProgress()
    if source.kind == "hub":
        fetch_hub(source, folder)
    with _client(client) as http:
        files, license = (
            zenodo_files(source, http) if source.kind == "zenodo" else (source.files, "")
        )
        if source.kind == "hub":
            files = tuple(entry for entry in files if entry.unpack is not None)
        fetched, kept = _fetch_all(files, folder, http, progress, local=source.kind == "hub")
    return Downloaded(root=folder / source.root, fetched=fetched, kept=kept, license=license)


def _fetch_all(
    files: Sequence[SourceFile],
    folder: Path,
    client: httpx2.Client,
    progress: Progress,
    *,
    local: bool,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Fetch (or, for a Hub snapshot, only unpack) each file; return the fetched and kept."""
    manifest = Manifest.read(folder)
    fetched: list[str] = []
    kept: list[str] = []
    for entry in files:
        name = f"{entry.folder}/{entry.filename}" if entry.folder else entry.filename
        if manifest.is_done(name, entry, folder):
            kept.append(name)
            progress.finished(name, "already here")
            continue
        target = folder / name
        if not local and not target.is_file():
            found = fetch(_wanted(entry, target), client, progress)
            manifest.check_unchanged(name, found["sha256"], entry)
            manifest.record(name, entry, found["sha256"], target.stat().st_size)
            fetched.append(name)
        elif not local:
            kept.append(name)
        if entry.unpack is not None and target.is_file():
            contents = unpack(target, folder / entry.unpack)
            target.unlink()
            manifest.mark_unpacked(name, entry, contents)
            progress.finished(name, f"unpacked into {folder / entry.unpack}")
        manifest.write()
    return tuple(fetched), tuple(kept)


def _wanted(entry: SourceFile, target: Path) -> Wanted:
    return Wanted(url=entry.url, target=target, checksum=entry.checksum, size=entry.size)


class Manifest:
    """``merbench-download.json``: what was fetched into a folder, as fetched."""

    def __init__(self, path: Path, files: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self.files = files

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The folder's manifest (empty when none).

        Raises:
            DatasetError: the manifest is not JSON.
        """
        path = folder / MANIFEST
        if not path.is_file():
            return cls(path, {})
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            files = dict(data["files"])
        except (ValueError, KeyError, TypeError):
            raise DatasetError(
                f"{path}: not a merbench download manifest. Remove it and run the command "
                "again (every file is then checked anew)."
            ) from None
        return cls(path, files)

    def is_done(self, name: str, entry: SourceFile, folder: Path) -> bool:
        """Whether ``name`` was fetched (and unpacked, for an archive) and is still there."""
        seen = self.files.get(name)
        if not seen or seen.get("url") != entry.url:
            return False
        if entry.unpack is not None:
            return bool(seen.get("unpacked")) and all(
                (folder / entry.unpack / top).exists() for top in seen.get("contents", [])
            )
        target = folder / name
        return target.is_file() and target.stat().st_size == seen.get("size")

    def check_unchanged(self, name: str, sha256: str, entry: SourceFile) -> None:
        """Refuse a file without a published checksum that differs from the one fetched before.

        Raises:
            DatasetError: naming the file, both digests and how to accept the change.
        """
        seen = self.files.get(name)
        if entry.checksum or not seen or seen.get("sha256") in (None, sha256):
            return
        raise DatasetError(
            f"{name}: differs from the copy fetched on {seen.get('fetched', '?')} (sha256 "
            f"{seen['sha256']}, now {sha256}); the source publishes no checksum, so the "
            f"dataset may have changed. Check its page, then remove {self.path} to accept it."
        )

    def record(self, name: str, entry: SourceFile, sha256: str, size: int) -> None:
        """Note a fetched file."""
        when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.files[name] = {
            "url": entry.url,
            "size": size,
            "sha256": sha256,
            "checksum": entry.checksum or "none published",
            "fetched": when,
        }

    def mark_unpacked(self, name: str, entry: SourceFile, contents: Sequence[str]) -> None:
        """Note that an archive was unpacked (and removed), and the names it gave."""
        seen = self.files.setdefault(name, {"url": entry.url})
        seen.update(unpacked=True, contents=list(contents))

    def write(self) -> None:
        """Write the manifest (atomically)."""
        temporary = self.path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps({"files": self.files}, indent=2) + "\n", encoding="utf-8")
        temporary.replace(self.path)


def zenodo_files(source: DataSource, client: httpx2.Client) -> tuple[tuple[SourceFile, ...], str]:
    """The record's files (those of ``source.files``, or all) with their md5, and its licence.

    Raises:
        DatasetError: Zenodo cannot be reached, or the record lacks a file the source names.
    """
    import httpx2

    url = mirrored(ZENODO_API.format(record=source.record))
    try:
        response = client.get(url, follow_redirects=True)
        response.raise_for_status()
        record = response.json()
    except (httpx2.HTTPError, ValueError) as exc:
        raise DatasetError(
            f"{url}: cannot read the Zenodo record ({exc}). Try again later, or set {MIRROR_ENV}."
        ) from None
    listed = {entry.key: entry for entry in _record_files(record, source.record)}
    wanted = source.files or tuple(
        SourceFile(url=key, unpack="" if is_archive(key) else None) for key in listed
    )
    missing = [entry.url for entry in wanted if entry.url not in listed]
    if missing:
        raise DatasetError(
            f"Zenodo record {source.record} has no file {missing[0]!r}; it has: "
            f"{', '.join(sorted(listed))}."
        )
    files = tuple(
        replace(
            entry,
            name=entry.name or entry.url,
            url=listed[entry.url].url,
            checksum=entry.checksum or listed[entry.url].checksum,
            size=entry.size or listed[entry.url].size,
        )
        for entry in wanted
    )
    license = record.get("metadata", {}).get("license", {})
    return files, str(license.get("id", "")) if isinstance(license, dict) else str(license)


@dataclass(frozen=True)
class _RecordFile:
    key: str
    url: str
    checksum: str
    size: int | None


def _record_files(record: dict[str, Any], record_id: str) -> Iterator[_RecordFile]:
    """The files of a Zenodo record's JSON (the list form, or InvenioRDM's ``entries``)."""
    files = record.get("files", [])
    if isinstance(files, dict):
        files = list(files.get("entries", {}).values())
    for item in files:
        key = str(item.get("key") or item.get("filename", ""))
        links = item.get("links", {})
        url = (
            links.get("content")
            or links.get("self")
            or (f"https://zenodo.org/records/{record_id}/files/{key}?download=1")
        )
        checksum = str(item.get("checksum", ""))
        checksum = checksum if CHECKSUM_PATTERN.match(checksum) else ""
        size = item.get("size")
        yield _RecordFile(key, url, checksum, int(size) if isinstance(size, int) else None)


def fetch_hub(source: DataSource, folder: Path) -> None:
    """Fetch a Hugging Face Hub dataset repository into ``folder`` (resumed by the Hub client).

    Raises:
        DatasetError: the repository cannot be fetched.
    """
    import huggingface_hub
    import huggingface_hub.errors

    try:
        huggingface_hub.snapshot_download(
            repo_id=source.record,
            repo_type="dataset",
            revision=source.revision or None,
            local_dir=folder,
            allow_patterns=list(source.allow_patterns) or None,
        )
    except (huggingface_hub.errors.HfHubHTTPError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetError(
            f"Hub dataset {source.record}: {reason}. Files already fetched are kept: run the "
            "same command again to resume (HF_ENDPOINT points at a Hub mirror)."
        ) from None


@contextlib.contextmanager
def _client(given: httpx2.Client | None) -> Iterator[httpx2.Client]:
    """The HTTP client given, or a new one closed on exit."""
    if given is not None:
        yield given
        return
    import httpx2

    from merbench.version import __version__

    headers = {"User-Agent": f"merbench/{__version__}"}
    with httpx2.Client(timeout=TIMEOUT_SECONDS, headers=headers) as client:
        yield client
