"""Stores and folders that cannot be used: one line each through the command line, never a
traceback; finished runs read from read-only storage."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import tempfile

import pytest
from click.testing import CliRunner

from merbench.cli import main
from tests.helpers.stores import fake_store


@pytest.fixture
def run_dir(tmp_path):
    fake_store(tmp_path / "run", {"mean": 2.0, "ridge": 0.5})
    return tmp_path / "run"


def _one_line(result, code=2):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_finished_run_on_read_only_storage_is_read(run_dir, tmp_path, monkeypatch):
    import merbench.results.store as store_module

    engines = []  # whether each engine the commands open is read-only (root ignores chmod)
    make_engine = store_module.make_engine

    def spy(url, **options):
        engines.append(options.get("read_only", False))
        return make_engine(url, **options)

    monkeypatch.setattr(store_module, "make_engine", spy)
    store = run_dir / "results.sqlite"
    read_only = stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP
    store.chmod(stat.S_IRUSR | stat.S_IRGRP)
    run_dir.chmod(read_only)
    try:
        status = _invoke("status", run_dir)
        site = _invoke("leaderboard", run_dir, "--out", tmp_path / "site")
    finally:
        run_dir.chmod(stat.S_IRWXU)
        store.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert status.exit_code == 0, status.output
    assert "data / av-regression" in status.output
    assert site.exit_code == 0, site.output
    assert (tmp_path / "site" / "index.html").exists()
    assert engines and all(engines)


def test_a_store_with_corrupt_pages_is_one_line(run_dir, tmp_path):
    path = run_dir / "results.sqlite"
    data = bytearray(path.read_bytes())
    for start in range(2 * 4096, len(data) - 4096, 4096):  # every page but the first
        data[start + 100 : start + 600] = b"\xff" * 500
    path.write_bytes(bytes(data))
    for args in (["status", run_dir], ["leaderboard", run_dir, "--out", tmp_path / "site"]):
        line = _one_line(_invoke(*args))
        assert f"{path}: not a readable merbench results store (database disk image" in line


def test_bad_json_in_a_stored_setting_is_one_line(run_dir, tmp_path):
    with sqlite3.connect(run_dir / "results.sqlite") as conn:
        conn.execute("UPDATE runs SET settings = '{\"budget\": '")
    for args in (["status", run_dir], ["leaderboard", run_dir, "--out", tmp_path / "site"]):
        line = _one_line(_invoke(*args))
        assert "results.sqlite: a stored value is not valid JSON" in line
        assert "Restore it from a copy, or run with --fresh" in line


def test_an_unrelated_database_and_a_newer_store_are_one_line(run_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    with sqlite3.connect(other / "results.sqlite") as conn:
        conn.execute("CREATE TABLE foo (x)")
    line = _one_line(_invoke("status", other))
    assert "a database of other tables (foo), not a merbench results store" in line
    with sqlite3.connect(run_dir / "results.sqlite") as conn:
        conn.execute("UPDATE runs SET schema_version = 999")
    line = _one_line(_invoke("leaderboard", run_dir, "--out", tmp_path / "site"))
    assert "written by a newer merbench (store schema 999" in line
    assert line.endswith("Upgrade merbench: pip install -U merbench.")


def test_a_url_of_a_database_without_its_driver_is_one_line(tmp_path):
    for args in (
        ["status", tmp_path, "--storage", "mysql://user@localhost/mer"],
        ["leaderboard", "mysql://user@localhost/mer", "--out", tmp_path / "site"],
    ):
        line = _one_line(_invoke(*args))
        assert "mysql://user@localhost/mer: no database driver for 'mysql' here" in line


def test_a_full_disk_under_the_leaderboard_out_is_one_line(run_dir, tmp_path, monkeypatch):
    import merbench.leaderboard.render as render

    monkeypatch.setattr(render, "_write", _full_disk)
    line = _one_line(_invoke("leaderboard", run_dir, "--out", tmp_path / "site"))
    assert f"--out {tmp_path / 'site'}: cannot write the site (No space left on device)" in line


def test_a_full_disk_under_the_run_leaderboard_is_one_line(install_tones, tmp_path, monkeypatch):
    import merbench.leaderboard.render as render

    config = install_tones()
    monkeypatch.setattr(render, "_write", _full_disk)
    site = tmp_path / "site"
    args = ["run", "--models", "mean", "--budget", "smoke", "--config", config]
    result = _invoke(*args, "--out", tmp_path / "run", "--leaderboard", site, "--no-progress")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    last = result.output.strip().splitlines()[-1]
    assert last == (
        f"Error: --leaderboard {site}: cannot write the site (No space left on device). "
        "Free some space, or pass --leaderboard a place you can write to."
    )


def test_a_read_only_cache_is_one_line(install_tones, tmp_path, monkeypatch):
    config = install_tones()
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    if os.geteuid() == 0:  # root writes through permissions: refuse as a read-only mount does
        opened = tempfile.TemporaryFile

        def read_only(*args, **kwargs):
            if str(kwargs.get("dir", "")).startswith(str(cache)):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(kwargs["dir"]))
            return opened(*args, **kwargs)

        monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    try:
        args = ["run", "--models", "mean", "--budget", "smoke", "--config", config]
        result = _invoke(*args, "--out", tmp_path / "run", "--no-progress")
    finally:
        cache.chmod(stat.S_IRWXU)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"Error: MERBENCH_CACHE={cache}: cannot write merbench's cache")
    assert last.endswith("Set MERBENCH_CACHE to a folder you can write to.")
