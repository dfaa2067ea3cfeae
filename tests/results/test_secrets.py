"""No secret in a published page: store passwords never reach files, pages or command lines."""

from __future__ import annotations

import subprocess
import sys

import pytest

from merbench.pipeline.executors.jobs import STORAGE_ENV, worker_command
from merbench.results.urls import display_url, redact

CANARY = "Canary-s3cret-9f2"


def test_redact_hides_every_password_in_a_text():
    text = f"merbench run --storage postgresql://me:{CANARY}@db:5432/mer --storage x://a:{CANARY}@h"
    assert CANARY not in redact(text)
    assert "postgresql://me:***@db:5432/mer" in redact(text)
    assert redact("sqlite:////tmp/run/results.sqlite") == "sqlite:////tmp/run/results.sqlite"
    assert CANARY not in display_url(f"postgresql://me:{CANARY}@db/mer")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"postgresql://merbench@db/mer?password={CANARY}",
            "postgresql://merbench@db/mer?password=***",
        ),
        (f"postgresql://me@db/mer?sslmode=require&sslpassword={CANARY}", "sslpassword=***"),
        (f"postgresql://me@db/mer?sslkey=/home/me/{CANARY}.key", "sslkey=***"),
        (f"postgresql://me@db/mer?passfile=/home/me/{CANARY}", "passfile=***"),
        (f"postgresql+psycopg://me:{CANARY}@db:5432/mer?application_name=x", "me:***@db:5432"),
        (f"postgresql://me@[::1/mer?password={CANARY}", "password=***"),  # unparsable: by pattern
    ],
)
def test_every_credential_of_a_url_is_hidden_where_it_is_shown(url, shown):
    for text in (display_url(url), redact(f"cannot connect to '{url}'."), redact(f"x {url}, y")):
        assert CANARY not in text and shown in text
    assert redact(f"host=db password={CANARY} user=me") == "host=db password=*** user=me"
    assert "application_name=x" in redact(f"postgresql://me:{CANARY}@db/mer?application_name=x")


def test_status_and_score_never_print_a_password_given_in_the_query(tmp_path):
    url = f"postgresql://merbench@127.0.0.1:9/none?password={CANARY}&connect_timeout=1"
    for args in (["status", url], ["status", str(tmp_path), "--storage", url],
                 ["score", str(tmp_path / "p.csv"), "--run", url, "--name", "x"]):  # fmt: skip
        result = subprocess.run([sys.executable, "-m", "merbench", *args],
                                capture_output=True, text=True, check=False)  # fmt: skip
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        assert CANARY not in result.stdout + result.stderr, args
        assert "password=***" in result.stderr, result.stderr


def test_a_local_worker_gets_the_store_url_in_its_environment_not_its_command_line(tmp_path):
    url = f"postgresql://me:{CANARY}@db/mer"
    command, env = worker_command(
        storage=url, run="r", out=tmp_path, config=None, heartbeat_timeout=60.0
    )
    assert not any(CANARY in part for part in command)
    assert env[STORAGE_ENV] == url


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_a_run_on_a_store_with_a_password_publishes_no_password(
    pg_url, tiny_config, tmp_path, form
):
    with_password = (
        pg_url.replace("merbench@", f"merbench:{CANARY}@")
        if form == "userinfo"
        else f"{pg_url}{'&' if '?' in pg_url else '?'}password={CANARY}"
    )
    run_dir, site = tmp_path / "run", tmp_path / "site"
    args = ["run", "--models", "mean", "--budget", "smoke", "--config", str(tiny_config)]
    args += ["--storage", with_password, "--out", str(run_dir), "--leaderboard", str(site)]
    result = subprocess.run(
        [sys.executable, "-m", "merbench", *args], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert CANARY not in result.stdout + result.stderr
    written = [p for p in [*run_dir.rglob("*"), *site.rglob("*")] if p.is_file()]
    assert any(p.name == "provenance.json" for p in written)
    assert any(p.name == "index.html" for p in written)
    leaked = [str(p) for p in written if CANARY in p.read_text(errors="replace")]
    assert leaked == []
    rerender = subprocess.run(
        [
            sys.executable,
            "-m",
            "merbench",
            "leaderboard",
            with_password,
            "--out",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert rerender.returncode == 0, rerender.stderr
    pages = [p for p in (tmp_path / "b").rglob("*") if p.is_file()]
    assert pages and not [p for p in pages if CANARY in p.read_text(errors="replace")]
