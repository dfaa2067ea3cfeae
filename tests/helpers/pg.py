"""A throwaway PostgreSQL server for the test session, from the system's PostgreSQL binaries.

``serve`` runs ``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/<version>/bin`` (Debian's
``postgresql`` package) on a free localhost port, with its data and socket in a fresh temporary
folder, and stops it when resumed. PostgreSQL refuses to run as root, so under root it runs as
the ``postgres`` user. ``database`` gives a test its own empty database. ``tests/conftest.py``
turns them into the fixtures ``postgres_server``, ``password_server`` (both per session) and
``pg_url`` (per test). Without the binaries the tests are skipped with the reason, and fail
under ``CI``.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

MISSING = (
    "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb). "
    "Install them with: apt-get install postgresql"
)


@dataclass(frozen=True)
class Server:
    port: int
    user: str = "merbench"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"


def _bindir() -> Path | None:
    def version(path: str) -> int:
        match = re.search(r"/postgresql/(\d+)/", path)
        return int(match.group(1)) if match else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


PASSWORD = "right-secret"
"""The password of user ``merbench`` on the ``password_server`` fixture's server."""


def serve(password: str | None = None) -> Iterator[Server]:
    """Start a server (asking for ``password`` when given), yield it, stop and remove it."""
    bindir = _bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    root = Path(tempfile.mkdtemp(prefix="merbench-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("Running as root, but there is no 'postgres' user to run PostgreSQL as.")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    auth = ["-A", "trust"]
    if password is not None:
        (root / "pwfile").write_text(password + "\n")
        if as_user:
            os.chown(root / "pwfile", owner.pw_uid, owner.pw_gid)
        auth = ["-A", "scram-sha-256", f"--pwfile={root / 'pwfile'}"]
    data, port = root / "data", _free_port()
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    try:
        _run([*as_user, str(bindir / "initdb"), "-D", str(data), *auth, "-U", "merbench",
              "-E", "UTF8", "--no-sync"], root)  # fmt: skip
        _run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"),
              "-w", "-t", "60", "-o", options, "start"], root)  # fmt: skip
    except RuntimeError as exc:
        log = root / "server.log"
        tail = log.read_text()[-2000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"Cannot start a PostgreSQL server: {exc}\n{tail}")
    try:
        yield Server(port=port)
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], cwd=root, capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def database(server: Server) -> Iterator[str]:
    """The URL of a new, empty database on ``server``, dropped when the generator resumes."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = server.url()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield server.url(name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
