"""Decoding: read an audio file's header, decode, downmix and resample it, crop or pad a clip.

Files are decoded with soundfile and resampled with soxr; every problem with a file (missing,
empty, undecodable, no frames, NaN samples) is a :class:`~merbench.errors.DatasetError` naming
it. :mod:`merbench.data.audio` caches what these functions return.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import PurePath
from typing import Literal, TypeAlias, TypedDict, get_args

import numpy as np
import soundfile as sf
import soxr

from merbench.errors import AudioFileError, DatasetError

RESAMPLE_QUALITY = "HQ"

CropStrategy: TypeAlias = Literal["start", "centre", "random"]
AudioPath: TypeAlias = str | os.PathLike[str]

_FIX = "Re-download or convert the file, or run 'merbench verify <dataset>'."
MPEG_SUFFIXES = frozenset({".mp1", ".mp2", ".mp3", ".mpa", ".mpga", ".mpeg"})
"""Files libsndfile hands to libmpg123, which writes notes ("Illegal Audio-MPEG-Header") to
the process's standard error, file descriptor 2, of any file it cannot read."""
_quiet_lock = threading.Lock()
_quiet_users = 0
_saved_stderr: int | None = None


def _refuse(path: AudioPath, problem: str, fix: str = _FIX) -> AudioFileError:
    """The error of a file that cannot be read: "file: problem. fix"."""
    line = f"{os.fspath(path)}: {problem}"
    return AudioFileError(f"{line}. {fix}", line)


def _reason(exc: RuntimeError) -> str:
    """What libsndfile says of a file it cannot open; its "File does not exist" is said of an
    existing file it cannot make sense of (``check_file`` has found the file)."""
    reason = str(getattr(exc, "error_string", "") or exc).strip().rstrip(".")
    if reason.startswith("File does not exist") or not reason:
        return "no audio stream libsndfile recognises"
    return reason


@contextlib.contextmanager
def _quiet_decoder(path: AudioPath) -> Iterator[None]:
    """Send file descriptor 2 to the null device while libmpg123 reads an MPEG file.

    Threads share the descriptor: the first one in redirects it, the last one out restores it,
    so concurrent decodes never restore it under each other. Python's own ``sys.stderr`` is
    flushed first; what other threads write to descriptor 2 meanwhile is lost.
    """
    global _quiet_users, _saved_stderr
    if PurePath(os.fspath(path)).suffix.lower() not in MPEG_SUFFIXES:
        yield
        return
    with _quiet_lock:
        if _quiet_users == 0:
            with contextlib.suppress(AttributeError, ValueError, OSError):
                sys.stderr.flush()
            try:
                _saved_stderr = os.dup(2)
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 2)
                os.close(null)
            except OSError:
                _saved_stderr = None
        _quiet_users += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_users -= 1
            if _quiet_users == 0 and _saved_stderr is not None:
                os.dup2(_saved_stderr, 2)
                os.close(_saved_stderr)
                _saved_stderr = None


class AudioInfo(TypedDict):
    """What ``probe`` reports about an audio file without decoding it."""

    seconds: float
    sample_rate: int
    channels: int
    frames: int
    format: str


def probe(path: AudioPath) -> AudioInfo:
    """Read an audio file's header: duration, sample rate, channels, frames and format.

    Args:
        path: the audio file.

    Returns:
        The file's properties; ``seconds`` is ``frames / sample_rate``.

    Raises:
        DatasetError: the file is missing, empty, unreadable or holds no audio frames.
    """
    check_file(path)
    try:
        with _quiet_decoder(path):
            info = sf.info(os.fspath(path))
    except RuntimeError as exc:
        raise _refuse(path, f"not decodable audio ({_reason(exc)})") from exc
    if info.frames <= 0:
        raise _no_frames(path)
    return AudioInfo(
        seconds=info.frames / info.samplerate,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        format=str(info.format),
    )


def decode(path: AudioPath, sample_rate: int, *, mono: bool = True) -> np.ndarray:
    """Decode an audio file, downmix it and resample it.

    Args:
        path: any file soundfile reads (WAV, FLAC, OGG, MP3, ...).
        sample_rate: the rate of the result, in Hz; soxr ("HQ") resamples when it differs.
        mono: average the channels into one; else keep them.

    Returns:
        float32 samples, ``[T]`` when ``mono`` else ``[C, T]``.

    Raises:
        DatasetError: the file is missing, empty, undecodable, has no frames or holds NaN or
            infinite samples; the message names the file.
    """
    check_file(path)
    try:
        with _quiet_decoder(path):
            frames, rate = sf.read(os.fspath(path), dtype="float32", always_2d=True)
    except RuntimeError as exc:
        raise _refuse(path, f"not decodable audio ({_reason(exc)})") from exc
    if frames.shape[0] == 0:
        raise _no_frames(path)
    if mono:
        # A matrix-vector product (BLAS) is ~30x faster than mean(axis=1) on stereo
        # (benchmarks/bench_audio.py).
        channels = frames.shape[1]
        weights = np.full(channels, 1.0 / channels, dtype=np.float32)
        audio = frames[:, 0] if channels == 1 else frames @ weights
    else:
        audio = frames
    if rate != sample_rate:
        audio = soxr.resample(audio, rate, sample_rate, quality=RESAMPLE_QUALITY)
    if not np.isfinite(audio).all():
        raise _refuse(path, "audio contains NaN or infinite samples")
    audio = np.asarray(audio, dtype=np.float32)
    return audio if mono else np.ascontiguousarray(audio.T)


def crop_or_pad(
    audio: np.ndarray,
    n_samples: int,
    strategy: CropStrategy,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Cut or extend audio to exactly ``n_samples`` along its last axis.

    Longer audio is cropped at the start, the centre (the extra samples split evenly, the odd
    one after the crop) or a random offset drawn from ``rng``. Shorter audio is padded with
    zeros at the end, whatever the strategy, so a clip always starts at its first sample.

    Args:
        audio: samples ``[..., T]``.
        n_samples: the length of the result.
        strategy: ``"start"``, ``"centre"`` or ``"random"``.
        rng: the generator ``"random"`` draws its offset from (required for it).

    Returns:
        ``[..., n_samples]``, a view of ``audio`` when cropped, a new array when padded.

    Raises:
        ValueError: ``n_samples`` is not positive, ``strategy`` is unknown, or ``"random"``
            is asked for without ``rng``.
    """
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples}.")
    if strategy not in get_args(CropStrategy):
        allowed = ", ".join(repr(s) for s in get_args(CropStrategy))
        raise ValueError(f"Unknown crop strategy {strategy!r}; choose one of {allowed}.")
    if strategy == "random" and rng is None:
        raise ValueError("Crop strategy 'random' needs a numpy Generator: pass rng=.")
    length = audio.shape[-1]
    if length < n_samples:
        padded = np.zeros((*audio.shape[:-1], n_samples), dtype=audio.dtype)
        padded[..., :length] = audio
        return padded
    extra = length - n_samples
    if strategy == "start":
        offset = 0
    elif strategy == "centre":
        offset = extra // 2
    else:
        assert rng is not None
        offset = int(rng.integers(0, extra + 1))
    return audio[..., offset : offset + n_samples]


def check_file(path: AudioPath) -> os.stat_result:
    """Return the file's status; raise ``DatasetError`` if it is missing, a folder or empty."""
    name = os.fspath(path)
    try:
        status = os.stat(name)
    except FileNotFoundError:
        raise DatasetError(
            f"{name}: audio file not found. Check the dataset's 'path' in datasets.toml, or run "
            "'merbench verify <dataset>'."
        ) from None
    except OSError as exc:
        raise _refuse(name, f"cannot access audio file ({exc})") from exc
    if not stat.S_ISREG(status.st_mode):
        raise _refuse(name, "not a regular file", "Point the dataset at audio files.")
    if status.st_size == 0:
        raise _refuse(name, "audio file is empty (0 bytes)")
    return status


def _no_frames(path: AudioPath) -> DatasetError:
    return _refuse(path, "audio file has no frames (0 samples)")
