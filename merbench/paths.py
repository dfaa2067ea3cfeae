"""Where merbench keeps its caches, and how processes share them.

The root is the platform's cache folder, or ``$MERBENCH_CACHE``. Several processes, on one
machine or on several machines sharing the folder over NFS, may fill one cache together: each
entry is computed under ``cache_lock`` (an exclusive lock on a ``.lock`` file next to it, so
one process computes it while the others wait and then read it) and written through a
temporary file in the same folder moved into place with ``os.replace`` (``write_atomically``),
so no reader ever sees half an entry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

CACHE_ENV = "MERBENCH_CACHE"
LOCK_SUFFIX = ".lock"

log = logging.getLogger(__name__)


def cache_dir(*parts: str) -> Path:
    """Return (and create) a folder under merbench's cache root.

    The root is ``$MERBENCH_CACHE`` when set, else the platform's user cache folder
    (``~/.cache/merbench`` on Linux, ``~/Library/Caches/merbench`` on macOS).

    Args:
        parts: sub-folders below the root, e.g. ``("audio",)``.

    Returns:
        The folder, created if missing.
    """
    override = os.environ.get(CACHE_ENV)
    if override:
        root = Path(os.path.expandvars(override)).expanduser()
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("merbench", appauthor=False))
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def lock_path(entry: Path) -> Path:
    """The lock file of a cache entry (a file or a folder): ``<entry name>.lock`` beside it."""
    return entry.with_name(entry.name + LOCK_SUFFIX)


class _ThreadLocks:
    """One lock per lock file among the threads of this process.

    File locks alone do not exclude threads everywhere: on NFS, Linux turns ``flock`` into a
    POSIX lock, which belongs to the whole process.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(name, (threading.Lock(), 0))
            self._locks[name] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[name]
                if users == 1:
                    del self._locks[name]  # kept only while used: the cache may hold millions
                else:
                    self._locks[name] = (lock, users - 1)


_THREADS = _ThreadLocks()


@contextlib.contextmanager
def cache_lock(entry: Path) -> Iterator[None]:
    """Hold the exclusive lock of a cache entry while computing and writing it.

    Other processes and threads asking for the same entry wait until it is released, then find
    it written. The lock is ``fcntl.flock`` on ``lock_path(entry)``: the kernel releases it when
    its holder exits or is killed, and NFS clients (Linux, mounted with locking, the default)
    pass it on to the server, so machines sharing a cache folder exclude each other too. Lock
    files are never deleted: removing one while another process waits on it would let a third
    take a fresh lock beside the waiter's.

    Where no lock file can be made (a read-only cache folder) or the platform has no ``fcntl``,
    only the threads of this process are excluded; entries are still written atomically.
    """
    path = lock_path(entry)
    with _THREADS.hold(str(path)):
        try:
            import fcntl
        except ImportError:  # Windows: no advisory file locks through fcntl
            yield
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            log.debug("%s: no lock file (%s); excluding this process's threads only", path, exc)
            yield
            return
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("%s: another process is computing it; waiting", entry)
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)  # closing the file releases the lock


def is_locked(entry: Path) -> bool:
    """Whether a process holds the lock of a cache entry now (``cache_lock``), without waiting.

    ``False`` where locks cannot be taken (no lock file, no ``fcntl``): the caller then decides
    by other signs, such as age.
    """
    try:
        import fcntl

        handle = os.open(lock_path(entry), os.O_RDWR)
    except (ImportError, OSError):
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(handle)
    return False


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a unique temporary file in the same folder.

    A reader sees the old file or the whole new one, never a part; a failed write leaves no
    temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def umask() -> int:
    """The process's umask (read from ``/proc`` where it can be, so that it is never changed)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no other way to read it: set it back at once
    os.umask(mask)
    return mask


def follow_umask(path: Path) -> None:
    """Give a file written by a library with its own mode (``mkstemp``'s 0600) the mode a plain
    ``open()`` would have given it: ``0o666`` less the umask."""
    os.chmod(path, 0o666 & ~umask())
