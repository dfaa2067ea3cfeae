"""The audio store: the on-disk cache of decoded clips of dataset tracks, cropped at read time.

Every track is decoded once (``merbench.data.decoding``: soundfile, downmixed, resampled with
soxr) at the run's rate, and the full clip is kept as a ``.npy`` file under the cache folder
(``merbench.paths.cache_dir``). Later reads memory-map that file, so datasets larger than memory
work and a second run does not decode anything. Crops are taken from the cached clip at read
time.

The cache key covers the source file's identity (resolved path, size in bytes and modification
time in nanoseconds), the sample rate, the channel mode and ``CACHE_VERSION``. Editing or
replacing a file changes its size or modification time and so its key; a file rewritten with the
same size and the same modification time (for example copied with ``rsync --times`` over a
different version) keeps its old entry: clear the cache folder after such a copy. Entries of
changed files are not deleted; removing the folder is always safe.

Entries are written to a temporary file and moved into place with ``os.replace``, so a killed
process never leaves a half-written entry under a real name; an entry that cannot be read back
(truncated, wrong type, not a ``.npy`` file) is logged and rebuilt. A file missing from the cache
is decoded under the entry's lock (``merbench.paths.cache_lock``): processes sharing the cache
folder, on one machine or over NFS, decode it once, the others wait and read the entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from merbench.data.decoding import AudioPath, CropStrategy, check_file, crop_or_pad, decode
from merbench.data.windows import HOP_FRACTION, MAX_SECONDS, WINDOWING, Windowing
from merbench.errors import ConfigError, DatasetError
from merbench.paths import CACHE_ENV, cache_dir, cache_lock

log = logging.getLogger(__name__)

#: Bump when the decoding, resampling or file layout of cache entries changes.
CACHE_VERSION = 1

SAMPLE_RATE = 16000
"""The rate, in Hz, every clip of a run is resampled to before its front-ends see it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AudioSettings:
    """How tracks are turned into model input.

    Attributes:
        sample_rate: rate every clip is resampled to, in Hz.
        seconds: length of the crop fed to front-ends; shorter clips are zero-padded.
        crop: where the crop is taken: the start, the centre, or a random offset.
        mono: downmix to one channel (the mean of all channels); else keep every channel.
        hop_fraction: hop between window starts, as a fraction of ``seconds``
            (``merbench.data.windows``).
        max_seconds: seconds used per track at most (``None``: the whole clip).
        windowing: every window of the clip (``"all"``), or one window per track placed by
            ``crop`` (``"single"``).
    """

    sample_rate: int = SAMPLE_RATE
    seconds: float = 10.0
    crop: CropStrategy = "centre"
    mono: bool = True
    hop_fraction: float = HOP_FRACTION
    max_seconds: float | None = MAX_SECONDS
    windowing: Windowing = WINDOWING

    @property
    def hop_samples(self) -> int:
        """Samples between window starts, at least 1."""
        return max(1, round(self.n_samples * self.hop_fraction))

    @property
    def n_samples(self) -> int:
        """Return the crop length in samples, ``round(seconds * sample_rate)``."""
        return round(self.seconds * self.sample_rate)


@dataclass(slots=True)
class CacheStats:
    """Counts of an ``AudioStore``'s cache look-ups.

    Attributes:
        hits: clips read from the cache.
        misses: clips decoded (including rebuilt entries).
        rebuilt: unreadable cache entries that were decoded again and replaced.
    """

    hits: int = 0
    misses: int = 0
    rebuilt: int = 0


def writable_cache(*parts: str) -> Path:
    """``cache_dir(*parts)``, made sure to take new entries (a test file written and removed).

    Raises:
        ConfigError: the folder cannot be made or written in (read-only, full, not yours).
    """
    try:
        folder = cache_dir(*parts)
        with tempfile.TemporaryFile(dir=folder, prefix=".write-test."):
            pass
    except OSError as exc:
        where = f"{CACHE_ENV}={os.environ[CACHE_ENV]}" if os.environ.get(CACHE_ENV) else "cache"
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"{where}: cannot write merbench's cache of decoded audio and features in "
            f"{exc.filename or '/'.join(parts)} ({reason}). Set {CACHE_ENV} to a folder you "
            "can write to."
        ) from None
    return folder


class AudioStore:
    """Decoded, resampled clips of audio files, cached on disk and memory-mapped.

    Example:
        >>> store = AudioStore(AudioSettings(sample_rate=16000, seconds=5.0))
        >>> store.batch(["a.wav", "b.mp3"]).shape  # doctest: +SKIP
        (2, 1, 80000)
    """

    def __init__(self, settings: AudioSettings, cache_root: Path | None = None) -> None:
        """Create a store.

        Args:
            settings: sample rate, crop length and strategy, channel mode.
            cache_root: folder of the cache entries; ``cache_dir("audio")`` when ``None``.
        """
        self.settings = settings
        self.cache_root = cache_root if cache_root is not None else writable_cache("audio")
        self.stats = CacheStats()

    def load(self, path: AudioPath) -> np.ndarray:
        """Return a file's full decoded clip, before cropping, from the cache.

        Args:
            path: the audio file.

        Returns:
            A read-only memory-mapped float32 array, ``[T]`` (mono) or ``[C, T]``, at the
            store's sample rate; an in-memory array when the cache folder is not writable.

        Raises:
            DatasetError: as ``decode``.
        """
        entry = self.entry_path(path)
        cached = self._read(entry)
        if cached is None:
            with cache_lock(entry):
                # Another process may have written it while this one waited for the lock.
                cached = self._read(entry, again=True)
                if cached is None:
                    return self._decode(path, entry)
        self.stats.hits += 1
        return cached

    def _decode(self, path: AudioPath, entry: Path) -> np.ndarray:
        """Decode a file and write its cache entry (the caller holds the entry's lock)."""
        self.stats.misses += 1
        audio = decode(path, self.settings.sample_rate, mono=self.settings.mono)
        try:
            write_array(entry, audio)
        except OSError as exc:
            log.warning("%s: cannot write audio cache entry (%s); not caching it", entry, exc)
            return audio
        reopened = self._read(entry, again=True)
        return audio if reopened is None else reopened

    def clip(self, path: AudioPath, rng: np.random.Generator | None = None) -> np.ndarray:
        """Return a file's clip cropped or padded to the settings' length.

        Args:
            path: the audio file.
            rng: the generator of a ``"random"`` crop.

        Returns:
            A new float32 array, ``[n_samples]`` (mono) or ``[C, n_samples]``.

        Raises:
            DatasetError: as ``decode``.
        """
        cropped = crop_or_pad(self.load(path), self.settings.n_samples, self.settings.crop, rng)
        return np.array(cropped, dtype=np.float32)

    def batch(self, paths: list[str], rng: np.random.Generator | None = None) -> np.ndarray:
        """Return the clips of several files stacked, ``[N, C, n_samples]`` float32.

        ``C`` is 1 for mono settings; otherwise every file must have the same channel count
        (and an empty ``paths`` gives ``C = 1``).

        Args:
            paths: the audio files, in order.
            rng: the generator of ``"random"`` crops, drawn from in ``paths`` order.

        Returns:
            The stacked clips.

        Raises:
            DatasetError: a file cannot be decoded, or channel counts differ.
        """
        n_samples, crop = self.settings.n_samples, self.settings.crop
        out: np.ndarray | None = None
        for index, path in enumerate(paths):
            audio = self.load(path)
            audio = audio[np.newaxis] if audio.ndim == 1 else audio
            if out is None:
                out = np.empty((len(paths), audio.shape[0], n_samples), dtype=np.float32)
            if audio.shape[0] != out.shape[1]:
                raise DatasetError(
                    f"{os.fspath(path)}: has {audio.shape[0]} channels, the batch has "
                    f"{out.shape[1]}. Use AudioSettings(mono=True) or files of one layout."
                )
            out[index] = crop_or_pad(audio, n_samples, crop, rng)
        return out if out is not None else np.empty((0, 1, n_samples), dtype=np.float32)

    def entry_path(self, path: AudioPath) -> Path:
        """Return where the cache entry of ``path`` is (or would be) stored.

        Raises:
            DatasetError: the file is missing, a folder or empty.
        """
        status = check_file(path)
        identity = {
            "version": CACHE_VERSION,
            "path": os.path.realpath(path),
            "size": status.st_size,
            "mtime_ns": status.st_mtime_ns,
            "sample_rate": self.settings.sample_rate,
            "mono": self.settings.mono,
        }
        key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
        # Two-character shards keep folders small for datasets of tens of thousands of tracks.
        return self.cache_root / key[:2] / f"{key}.npy"

    def _read(self, entry: Path, *, again: bool = False) -> np.ndarray | None:
        """Return the memory-mapped entry, or ``None`` when it is missing or unreadable.

        ``again``: a second look at the same entry, whose unreadable state was reported already.
        """
        try:
            array: np.ndarray = np.load(entry, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as exc:
            reason = str(exc)
        else:
            expected_ndim = 1 if self.settings.mono else 2
            if array.dtype == np.float32 and array.ndim == expected_ndim and array.shape[-1] > 0:
                return array
            reason = f"holds {array.dtype} {array.shape}"
        if not again:
            log.warning("%s: unreadable audio cache entry (%s); decoding again", entry, reason)
            self.stats.rebuilt += 1
        return None


def write_array(entry: Path, audio: np.ndarray) -> None:
    """Write ``audio`` to ``entry`` through a unique temporary file in the same folder.

    Processes and threads sharing one cache folder never write the same temporary file, and a
    reader sees either the old entry or the whole new one.
    """
    entry.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=entry.parent, prefix=f".{entry.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, audio, allow_pickle=False)
        os.replace(temporary, entry)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ArrayWriter:
    """Write a ``.npy`` file of ``n`` rows batch by batch, moved into place when complete.

    Rows go through a file handle (not a writable memory map), so writing holds one batch in
    memory; the shape of a row is that of the first batch.

    Example:
        >>> with ArrayWriter(Path("x.npy"), 2) as out:  # doctest: +SKIP
        ...     out.write(np.zeros((2, 3), dtype=np.float32))
    """

    def __init__(self, entry: Path, n: int) -> None:
        """Start writing ``n`` rows to ``entry``."""
        entry.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=entry.parent, prefix=f".{entry.stem}.", suffix=".tmp"
        )
        self.entry, self.temporary, self.n, self.written = entry, Path(temporary), n, 0
        self.stream = os.fdopen(handle, "wb")
        self.started = False

    def write(self, batch: np.ndarray) -> None:
        """Append rows (float32)."""
        rows = np.ascontiguousarray(batch, dtype=np.float32)
        if not self.started:
            header = {"descr": "<f4", "fortran_order": False, "shape": (self.n, *rows.shape[1:])}
            np.lib.format.write_array_header_2_0(self.stream, header)
            self.started = True
        self.stream.write(rows.tobytes())
        self.written += len(rows)

    def __enter__(self) -> ArrayWriter:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self.stream.close()
        if kind is None and self.written == self.n and self.started:
            os.replace(self.temporary, self.entry)
        else:
            self.temporary.unlink(missing_ok=True)
            if kind is None:
                raise ValueError(f"{self.entry}: wrote {self.written} of {self.n} rows")
