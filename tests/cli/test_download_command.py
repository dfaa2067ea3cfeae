"""`merbench download`: official archives in their real layouts, served by a loopback server."""

from __future__ import annotations

import io
import json
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from merbench.cli import main
from merbench.data.download import MANIFEST
from merbench_plugins.datasets import deam, emomusic, fourq
from tests.data.loopback import loopback
from tests.plugins.layouts import deam_layout, emomusic_layout, fourq_layout


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    with loopback() as served:
        monkeypatch.setenv("MERBENCH_MIRROR", served.base)
        yield served


def _merbench(*args: str):
    return CliRunner().invoke(main, list(args))


def _zip_folder(folder: Path, prefix: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, f"{prefix}/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


def _tar_folder(folder: Path, *, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for path in sorted(folder.iterdir()):
            bundle.add(path, f"{prefix}{path.name}")
    return buffer.getvalue()


def test_fourq_downloads_unpacks_prints_its_table_writes_it_and_verifies(
    here: Path, server, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = fourq_layout(here / "made")
    monkeypatch.setattr(fourq, "PUBLISHED_CLIPS", len(layout.labels))
    url = "/mir.dei.uc.pt/resources/MER_audio_taffc_dataset.zip"
    server.files[url] = _zip_folder(layout.root, "MER_audio_taffc_dataset")
    result = _merbench(
        "download", "fourq", "--to", "4q", "--accept-licence", "--yes", "--write", "--no-progress"
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Licence: For research use")
    root = (here / "4q" / "MER_audio_taffc_dataset").resolve()
    assert f'[datasets.fourq]\nplugin = "fourq"\npath = "{root}"' in result.output
    assert "verify fourq: 0 problem(s)" in result.output
    declared = tomllib.loads((here / "datasets.toml").read_text())["datasets"]["fourq"]
    assert declared == {"plugin": "fourq", "path": str(root)}
    assert not (here / "4q" / "MER_audio_taffc_dataset.zip").exists()
    again = _merbench("download", "fourq", "--to", "4q", "--accept-licence", "--yes", "--write")
    assert again.exit_code == 0, again.output
    assert "MER_audio_taffc_dataset.zip: already here" in again.output
    assert "already declares [datasets.fourq]; left as it is" in again.output
    assert len(server.requests) == 1


def test_emomusic_official_archives_give_the_layout_its_loader_reads(
    here: Path, server, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = emomusic_layout(here / "made", split=False)
    monkeypatch.setattr(emomusic, "PUBLISHED_SONGS", len(layout.labels))
    base = "/cvml.unige.ch/databases/emoMusic"
    # As published: annotations.tar.gz holds the CSV files, clips_45sec.tar.gz clips_45seconds/.
    server.files[f"{base}/annotations.tar.gz"] = _tar_folder(layout.root / "annotations")
    clips = here / "made" / "clips"
    (clips).mkdir()
    (layout.root / "clips_45seconds").rename(clips / "clips_45seconds")
    server.files[f"{base}/clips_45sec.tar.gz"] = _tar_folder(clips)
    assert _merbench("init").exit_code == 0  # an existing datasets.toml: the table is added
    result = _merbench("download", "emomusic", "--to", "emo", "--yes", "--write")
    assert result.exit_code == 0, result.output
    assert "verify emomusic: 0 problem(s)" in result.output
    assert "Added [datasets.emomusic] to" in result.output
    declared = tomllib.loads((here / "datasets.toml").read_text())["datasets"]
    assert declared["emomusic"]["path"] == str((here / "emo").resolve())
    assert "synth" in declared
    manifest = json.loads((here / "emo" / MANIFEST).read_text())["files"]
    assert sorted(manifest) == ["annotations.tar.gz", "clips_45sec.tar.gz"]
    assert all(entry["unpacked"] for entry in manifest.values())


def test_deam_official_archives_unpack_side_by_side_into_the_layout_it_reads(
    here: Path, server, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = deam_layout(here / "made")
    monkeypatch.setattr(deam, "PUBLISHED_SONGS", len(layout.labels))
    base = "/cvml.unige.ch/databases/DEAM"
    # As published: annotations/annotations averaged per song/song_level/, metadata/, MEMD_audio/.
    nested = here / "made" / "notes" / "annotations averaged per song" / "song_level"
    nested.mkdir(parents=True)
    for table in (layout.root / "annotations").iterdir():
        table.rename(nested / table.name)
    server.files[f"{base}/DEAM_Annotations.zip"] = _zip_folder(
        here / "made" / "notes", "annotations"
    )
    server.files[f"{base}/metadata.zip"] = _zip_folder(layout.root / "metadata", "metadata")
    server.files[f"{base}/DEAM_audio.zip"] = _zip_folder(layout.root / "MEMD_audio", "MEMD_audio")
    result = _merbench("download", "deam", "--to", "deam", "--yes")
    assert result.exit_code == 0, result.output
    assert "verify deam: 0 problem(s)" in result.output
    assert sorted(p.name for p in (here / "deam").iterdir()) == [
        "MEMD_audio",
        "annotations",
        "merbench-download.json",
        "metadata",
    ]


def test_without_to_a_download_goes_under_merbench_data(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from merbench.cli.downloading import default_folder

    monkeypatch.delenv("MERBENCH_DATA", raising=False)
    assert default_folder("deam") == Path("data") / "deam"
    monkeypatch.setenv("MERBENCH_DATA", str(here / "copies"))
    assert default_folder("deam") == here / "copies" / "deam"


def test_a_licence_that_asks_for_consent_is_refused_without_the_flag(here: Path, server) -> None:
    result = _merbench("download", "fourq", "--to", "4q", "--yes")
    assert result.exit_code == 2
    assert result.output.startswith("Licence: ")
    assert "the licence asks for your consent" in result.output
    assert "merbench download fourq --accept-licence" in result.output
    assert server.requests == [] and not (here / "4q").exists()


def test_a_failed_download_is_one_line_without_a_traceback(here: Path, server) -> None:
    result = _merbench("download", "deam", "--to", "deam", "--yes")
    assert result.exit_code == 2
    error = result.output.splitlines()[-1]
    assert "DEAM_Annotations.zip: the server answered HTTP 404" in error
    assert "Traceback" not in result.output


def test_a_manual_source_prints_its_steps(here: Path) -> None:
    result = _merbench("download", "pmemo")
    assert result.exit_code == 0, result.output
    assert "'pmemo' cannot be fetched programmatically. Steps:" in result.output
    assert "1. Open https://github.com/HuiZhangDB/PMEmo" in result.output


def test_without_a_name_every_dataset_and_its_source_is_listed(here: Path) -> None:
    result = CliRunner().invoke(main, ["download"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name, how in [("deam", "download"), ("pmemo", "printed steps"), ("synth", "embedded")]:
        line = next(line for line in result.output.splitlines() if f" {name} " in line)
        assert how in line, line


def test_an_unknown_dataset_suggests_a_close_name(here: Path) -> None:
    result = _merbench("download", "deem")
    assert result.exit_code == 2
    assert "unknown dataset. Did you mean 'deam'?" in result.output


def test_a_generated_or_sourceless_dataset_says_why_nothing_is_fetched(here: Path) -> None:
    synth = _merbench("download", "synth")
    assert synth.exit_code == 2
    assert "'synth' is generated by its plugin: there is nothing to download" in synth.output
    folder = _merbench("download", "folder")
    assert folder.exit_code == 2
    assert "'folder' declares no source: merbench cannot fetch it" in folder.output
