"""Downloads against a loopback server: resume, checksums, truncation, a full disk, unpacking."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

import merbench
from merbench.data import fetching
from merbench.data.download import MANIFEST, download
from merbench.data.unpacking import unpack
from merbench.plugin.validation import source_problem
from merbench_plugins.datasets import sources
from tests.data.loopback import loopback


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def _spec(*files: merbench.SourceFile, **source: object) -> merbench.DatasetSpec:
    kind = source.pop("kind", "files")
    data_source = merbench.DataSource(kind=kind, files=files, license="CC0-1.0", **source)
    return merbench.DatasetSpec(name="toy", load=lambda root: None, tasks=(), source=data_source)


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    with loopback() as served:
        monkeypatch.setenv("MERBENCH_MIRROR", served.base)
        yield served


ARCHIVE = _zip({"toy/labels.csv": b"id,q\n1,Q1\n", "toy/audio/1.wav": b"\0" * 50_000})


def test_a_download_unpacks_records_and_is_not_refetched(server, tmp_path: Path) -> None:
    server.files["/example.org/toy.zip"] = ARCHIVE
    entry = merbench.SourceFile(url="https://example.org/toy.zip", unpack="")
    result = download(_spec(entry, root="toy"), tmp_path / "out")
    assert result.root == tmp_path / "out" / "toy"
    assert (result.root / "labels.csv").read_bytes() == b"id,q\n1,Q1\n"
    assert not (tmp_path / "out" / "toy.zip").exists()  # removed once unpacked
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())["files"]["toy.zip"]
    assert manifest["sha256"] == hashlib.sha256(ARCHIVE).hexdigest()
    assert manifest["checksum"] == "none published"
    again = download(_spec(entry, root="toy"), tmp_path / "out")
    assert again.kept == ("toy.zip",) and not again.fetched
    assert len(server.requests) == 1


def test_an_interrupted_download_resumes_where_it_stopped(server, tmp_path: Path) -> None:
    server.files["/example.org/toy.zip"] = ARCHIVE
    server.drop_after["/example.org/toy.zip"] = 20_000
    entry = merbench.SourceFile(
        url="https://example.org/toy.zip", checksum=_sha256(ARCHIVE), unpack=""
    )
    with pytest.raises(merbench.DatasetError, match=r"toy.zip.part is kept: run the same"):
        download(_spec(entry), tmp_path)
    assert (tmp_path / "toy.zip.part").stat().st_size == 20_000
    download(_spec(entry), tmp_path)
    assert server.requests[-1] == ("/example.org/toy.zip", "bytes=20000-")
    assert server.sent["/example.org/toy.zip"] == len(ARCHIVE)  # no byte fetched twice
    assert (tmp_path / "toy" / "audio" / "1.wav").stat().st_size == 50_000
    assert not (tmp_path / "toy.zip.part").exists()


def test_a_file_changed_on_the_server_is_fetched_anew_not_spliced(server, tmp_path) -> None:
    server.files["/example.org/a.bin"] = b"old" * 1000
    server.drop_after["/example.org/a.bin"] = 100
    entry = merbench.SourceFile(url="https://example.org/a.bin")
    with pytest.raises(merbench.DatasetError):
        download(_spec(entry), tmp_path)
    server.files["/example.org/a.bin"] = b"new" * 1000  # another ETag: If-Range gives 200
    download(_spec(entry), tmp_path)
    assert (tmp_path / "a.bin").read_bytes() == b"new" * 1000


def test_a_checksum_mismatch_is_one_line_and_nothing_is_unpacked(server, tmp_path) -> None:
    server.files["/example.org/toy.zip"] = ARCHIVE
    wrong = "sha256:" + "0" * 64
    entry = merbench.SourceFile(url="https://example.org/toy.zip", checksum=wrong, unpack="")
    with pytest.raises(merbench.DatasetError) as caught:
        download(_spec(entry), tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert f"toy.zip: checksum mismatch, expected {wrong}, got {_sha256(ARCHIVE)}" in message
    assert "removed" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_truncated_archive_is_one_line_and_refetched_by_a_rerun(server, tmp_path) -> None:
    server.files["/example.org/toy.zip"] = ARCHIVE[: len(ARCHIVE) // 2]
    entry = merbench.SourceFile(url="https://example.org/toy.zip", unpack="")
    with pytest.raises(merbench.DatasetError, match=r"toy.zip: not a complete archive") as caught:
        download(_spec(entry), tmp_path)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "toy").exists() and not (tmp_path / "toy.zip").exists()
    server.files["/example.org/toy.zip"] = ARCHIVE
    download(_spec(entry), tmp_path)
    assert (tmp_path / "toy" / "labels.csv").is_file()


def test_a_full_disk_keeps_what_is_complete_and_a_rerun_resumes(
    server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files["/example.org/a.bin"] = b"a" * 30_000
    server.files["/example.org/b.bin"] = b"b" * 30_000
    real_open = fetching.open_part

    class Full(io.RawIOBase):
        def __init__(self, handle) -> None:
            self.handle = handle

        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            if self.handle.tell() + len(data) > 10_000:
                self.handle.write(bytes(data[: 10_000 - self.handle.tell()]))
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.handle.write(data)

        def close(self) -> None:
            self.handle.close()
            super().close()

    def filling(part: Path, mode: str):
        handle = real_open(part, mode)
        return Full(handle) if part.name.startswith("b.") else handle

    monkeypatch.setattr(fetching, "open_part", filling)
    files = (
        merbench.SourceFile(url="https://example.org/a.bin"),
        merbench.SourceFile(url="https://example.org/b.bin"),
    )
    with pytest.raises(merbench.DatasetError) as caught:
        download(_spec(*files), tmp_path)
    assert "b.bin.part: the disk is full after 10,000 of 30,000 bytes" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert (tmp_path / "a.bin").read_bytes() == b"a" * 30_000
    monkeypatch.setattr(fetching, "open_part", real_open)
    result = download(_spec(*files), tmp_path)
    assert result.kept == ("a.bin",) and result.fetched == ("b.bin",)
    assert server.requests[-1] == ("/example.org/b.bin", "bytes=10000-")
    assert (tmp_path / "b.bin").read_bytes() == b"b" * 30_000


def test_files_of_one_name_in_two_folders_are_kept_apart(server, tmp_path: Path) -> None:
    server.files["/example.org/split-0/test.tsv"] = b"zero"
    server.files["/example.org/split-1/test.tsv"] = b"one"
    files = tuple(
        merbench.SourceFile(
            url=f"https://example.org/split-{n}/test.tsv",
            folder=f"data/splits/split-{n}",
            checksum=_sha256(content),
        )
        for n, content in ((0, b"zero"), (1, b"one"))
    )
    result = download(_spec(*files), tmp_path)
    assert result.fetched == ("data/splits/split-0/test.tsv", "data/splits/split-1/test.tsv")
    assert (tmp_path / "data/splits/split-1/test.tsv").read_bytes() == b"one"
    assert download(_spec(*files), tmp_path).kept == result.fetched


def test_a_compressed_archive_is_saved_as_sent_not_decoded(server, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        info = tarfile.TarInfo("clips/1.mp3")
        info.size = 3
        bundle.addfile(info, io.BytesIO(b"mp3"))
    archive = buffer.getvalue()
    server.files["/example.org/clips.tar.gz"] = archive
    # Some servers label a .tar.gz as gzip-encoded: decoding it would break its checksum.
    server.headers["/example.org/clips.tar.gz"] = {"Content-Encoding": "gzip"}
    entry = merbench.SourceFile(
        url="https://example.org/clips.tar.gz", checksum=_sha256(archive), unpack=""
    )
    download(_spec(entry), tmp_path)
    assert (tmp_path / "clips" / "1.mp3").read_bytes() == b"mp3"


def test_a_folder_that_cannot_be_written_is_one_line(server, tmp_path: Path) -> None:
    server.files["/example.org/a.bin"] = b"a"
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(
        merbench.DatasetError, match=r"file/x: cannot write \(Not a directory\)"
    ) as caught:
        download(_spec(merbench.SourceFile(url="https://example.org/a.bin")), blocked / "x")
    assert "\n" not in str(caught.value)


def test_a_variant_fetches_its_own_files(server, tmp_path: Path) -> None:
    server.files["/example.org/low.bin"] = b"low"
    server.files["/example.org/full.bin"] = b"full"
    full = merbench.DataSource(
        kind="files", files=(merbench.SourceFile(url="https://example.org/full.bin"),), license="x"
    )
    spec = _spec(merbench.SourceFile(url="https://example.org/low.bin"), variants={"full": full})
    assert download(spec, tmp_path, variant="full").fetched == ("full.bin",)
    assert not (tmp_path / "low.bin").exists()
    with pytest.raises(merbench.DatasetError, match="no download variant 'hq'; its variants: full"):
        download(spec, tmp_path, variant="hq")


def test_a_source_file_without_checksum_that_changes_is_noticed(server, tmp_path) -> None:
    server.files["/example.org/a.bin"] = b"first"
    entry = merbench.SourceFile(url="https://example.org/a.bin")
    download(_spec(entry), tmp_path)
    (tmp_path / "a.bin").unlink()
    server.files["/example.org/a.bin"] = b"second"
    with pytest.raises(merbench.DatasetError, match="differs from the copy fetched on"):
        download(_spec(entry), tmp_path)
    assert not (tmp_path / "a.bin").exists()
    with pytest.raises(merbench.DatasetError, match="differs from the copy fetched on"):
        download(_spec(entry), tmp_path)  # until the change is accepted
    (tmp_path / MANIFEST).unlink()
    download(_spec(entry), tmp_path)
    assert (tmp_path / "a.bin").read_bytes() == b"second"


def test_a_file_already_in_place_is_checked_not_fetched(server, tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"mine")
    good = merbench.SourceFile(url="https://example.org/a.bin", checksum=_sha256(b"mine"))
    assert download(_spec(good), tmp_path).kept == ("a.bin",)
    assert server.requests == []
    bad = merbench.SourceFile(url="https://example.org/b.bin", checksum=_sha256(b"theirs"))
    (tmp_path / "b.bin").write_bytes(b"mine")
    with pytest.raises(merbench.DatasetError, match=r"b\.bin: checksum mismatch"):
        download(_spec(bad), tmp_path)
    assert not (tmp_path / "b.bin").exists()


def test_a_zenodo_record_is_read_from_its_api_and_md5_checked(server, tmp_path) -> None:
    archive = _zip({"MERGE_Audio_Complete/Q1/A001.mp3": b"\1" * 100})
    server.files["/zenodo.org/api/records/13939205"] = json.dumps(
        {
            "metadata": {"license": {"id": "cc-by-nc-sa-4.0"}},
            "files": [
                {
                    "key": "MERGE_Audio_Complete.zip",
                    "size": len(archive),
                    "checksum": "md5:" + hashlib.md5(archive).hexdigest(),
                    "links": {
                        "self": "https://zenodo.org/api/records/13939205/files/"
                        "MERGE_Audio_Complete.zip/content"
                    },
                }
            ],
        }
    ).encode()
    server.files["/zenodo.org/api/records/13939205/files/MERGE_Audio_Complete.zip/content"] = (
        archive
    )
    spec = merbench.DatasetSpec(name="merge", load=lambda r: None, tasks=(), source=sources.MERGE)
    result = download(spec, tmp_path)
    assert result.license == "cc-by-nc-sa-4.0"
    assert (tmp_path / "MERGE_Audio_Complete" / "Q1" / "A001.mp3").is_file()
    recorded = json.loads((tmp_path / MANIFEST).read_text())["files"]["MERGE_Audio_Complete.zip"]
    assert recorded["checksum"] == "md5:" + hashlib.md5(archive).hexdigest()


def test_a_hub_source_goes_through_snapshot_download(monkeypatch, tmp_path: Path) -> None:
    import huggingface_hub

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda **kw: calls.append(kw))
    source = merbench.DataSource(
        kind="hub",
        record="amaai-lab/MERP",
        revision="0123abc",
        allow_patterns=("*.csv", "audio/*"),
        license="CC BY 4.0",
    )
    spec = merbench.DatasetSpec(name="merp", load=lambda r: None, tasks=(), source=source)
    download(spec, tmp_path / "merp")
    assert calls == [
        {
            "repo_id": "amaai-lab/MERP",
            "repo_type": "dataset",
            "revision": "0123abc",
            "local_dir": tmp_path / "merp",
            "allow_patterns": ["*.csv", "audio/*"],
        }
    ]


def test_a_zip_member_with_dotdot_or_an_absolute_path_is_refused(tmp_path: Path) -> None:
    for name in ("../evil.txt", "/etc/evil.txt", "ok/../../evil.txt"):
        archive = tmp_path / "bad.zip"
        archive.write_bytes(_zip({"fine.txt": b"x", name: b"evil"}))
        with pytest.raises(merbench.DatasetError, match="refused and nothing was unpacked"):
            unpack(archive, tmp_path / "into")
        assert list((tmp_path / "into").iterdir()) == []
        assert not (tmp_path / "evil.txt").exists()


def test_a_tar_member_outside_the_folder_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 4
        bundle.addfile(info, io.BytesIO(b"evil"))
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(merbench.DatasetError, match="refused and nothing was unpacked"):
        unpack(archive, tmp_path / "into")
    assert not (tmp_path / "evil.txt").exists()


def test_every_first_party_source_is_valid() -> None:
    assert {name: source_problem(source) for name, source in sources.SOURCES.items()} == {
        name: "" for name in sources.SOURCES
    }
    mtg = sources.MTG_MOODTHEME
    assert sum(entry.unpack == "audio-low" for entry in mtg.files) == 100
    assert sum(entry.unpack == "audio" for entry in mtg.variants["full"].files) == 100
    for variant in (mtg, mtg.variants["full"]):
        assert all(entry.checksum.startswith("sha256:") for entry in variant.files)
        assert len({entry.url for entry in variant.files}) == len(variant.files) == 116


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (merbench.DataSource(kind="files", license="x"), "lists no files"),
        (merbench.DataSource(kind="zenodo", record="abc", license="x"), "not a Zenodo id"),
        (merbench.DataSource(kind="hub", record="nope", license="x"), "not a Hub 'org/name'"),
        (merbench.DataSource(kind="manual", license="x"), "has no steps"),
        (merbench.DataSource(kind="manual", license="", steps=("a",)), "has no license"),
        (
            merbench.DataSource(
                kind="files",
                license="x",
                files=(merbench.SourceFile(url="https://a/b.zip", checksum="sha1:00"),),
            ),
            "is not 'sha256:<64 hex>'",
        ),
        (
            merbench.DataSource(
                kind="files",
                license="x",
                files=(merbench.SourceFile(url="https://a/b.zip", unpack="../up"),),
            ),
            "not a relative path",
        ),
        (
            merbench.DataSource(
                kind="files", license="x", files=(merbench.SourceFile(url="ftp://a/b"),)
            ),
            "not an http(s) URL",
        ),
        (
            merbench.DataSource(
                kind="manual",
                license="x",
                steps=("a",),
                variants={"Full": merbench.DataSource(kind="manual", license="x", steps=("b",))},
            ),
            "variant name 'Full' is invalid",
        ),
        (
            merbench.DataSource(
                kind="manual",
                license="x",
                steps=("a",),
                variants={"full": merbench.DataSource(kind="hub", record="x", license="x")},
            ),
            "variant 'full' record is not a Hub 'org/name'",
        ),
    ],
)
def test_a_bad_source_is_described(source: merbench.DataSource, problem: str) -> None:
    assert problem in source_problem(source)


def test_the_registry_refuses_a_dataset_with_a_bad_source() -> None:
    from merbench.plugin.registry import load_registry

    class Plugin:
        MERBENCH_PLUGIN_API = 1

        @merbench.hookimpl
        def merbench_datasets(self):
            yield merbench.DatasetSpec(
                name="broken",
                load=lambda root: None,
                tasks=("quadrant",),
                source=merbench.DataSource(kind="hub", record="x", license="CC0"),
            )

    registry = load_registry(plugins=[Plugin()], entry_points=False)
    assert "broken" not in registry.datasets
    assert any("source record is not a Hub 'org/name'" in str(f) for f in registry.failures)
