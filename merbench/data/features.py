"""Window waveforms and fixed front-end features, computed once per dataset and cached on disk.

Every track is cut into windows (``merbench.data.windows``). A fixed (non-trainable) front-end gives
the same output in every fold, trial and candidate, so the core runs it once over every window of
the dataset, batch by batch, and writes the result to a ``.npy`` file under the cache folder; runs
open it memory-mapped and read only the rows of each batch. The window waveforms that trainable
front-ends and augmentations need are cached the same way. The key covers the track list and
audio files, the audio and window settings, the front-end's name, parameters and plugin version,
and what its ``describe()`` says (a pretrained encoder's weights).

A front-end that declares its own ``sample_rate`` (a pretrained encoder trained at 24 or 48 kHz)
sees the run's windows decoded at that rate: the same windows, as many per track and starting
at the same second (``start * rate / run_rate``, rounded to a sample), so its rows line up with
every other input's row for row; the audio store caches each file once per rate.

A transfer pair's entry (``A>B``) is its two datasets' entries one after the other, copied
from theirs (computed first when not cached), not computed again.

An entry is computed under its lock (``merbench.paths.cache_lock``): processes sharing the cache
folder compute it once, the others wait and then read it; it is written to a temporary file and
moved into place, so nobody reads half of one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from merbench.data.audio import ArrayWriter, AudioStore
from merbench.data.tracks import Tracks
from merbench.data.windows import Windows, place_window
from merbench.paths import cache_dir, cache_lock, write_atomically
from merbench.plugin.specs import FrontEndSpec

log = logging.getLogger(__name__)

FEATURE_CACHE_VERSION = 2
BATCH = 16
STACK_BYTES = 64 * 2**20
"""Bytes copied at a time (whole rows, at least one) into a transfer pair's entry from its
datasets' entries."""


class FeatureStore:
    """Window waveforms and fixed front-end outputs of the tracks of a run, cached on disk.

    Args:
        audio: the audio store (sample rate, window length and hop, windowing).
        root: the cache folder (default: ``cache_dir("features")``).
        max_seconds: per dataset name, the seconds used per track at most; datasets not
            named use ``audio.settings.max_seconds``.
    """

    def __init__(
        self,
        audio: AudioStore,
        root: Path | None = None,
        *,
        max_seconds: Mapping[str, float | None] | None = None,
    ) -> None:
        self.audio = audio
        self.root = root
        self.max_seconds = dict(max_seconds or {})
        self._memory: dict[str, np.ndarray] = {}
        self._windows: dict[str, Windows] = {}
        self._stores: dict[int, AudioStore] = {audio.settings.sample_rate: audio}
        self.computed = 0
        self.loaded = 0

    def caps(self, tracks: Tracks) -> dict[str, float | None]:
        """The seconds used per track at most (``None``: whole clips), per dataset of ``tracks``.

        A transfer pair's tracks (``A>B``) keep each side's own cap, so that A's tracks are cut
        into the same windows in the pair's cells as in A's own cross-validation.
        """
        default = self.audio.settings.max_seconds
        names = [part.name for part in tracks.parts] or [tracks.name]
        return {name: self.max_seconds.get(name, default) for name in names}

    def cap(self, tracks: Tracks) -> float | None:
        """The seconds used per track of this dataset at most (``None``: whole clips); for a
        transfer pair whose sides differ, the longer of their caps."""
        caps = list(self.caps(tracks).values())
        return None if None in caps else max(c for c in caps if c is not None)

    def _limits(self, tracks: Tracks, rate: int) -> list[int | None]:
        """Each track's cap in samples at ``rate`` (``None``: the whole clip)."""
        limits = {
            name: None if cap is None else round(cap * rate)
            for name, cap in self.caps(tracks).items()
        }
        parts = tracks.parts or (tracks,)
        return [limits[part.name] for part in parts for _ in range(len(part.table))]

    def windows(self, tracks: Tracks) -> Windows:
        """The windows of every track (built from the decoded lengths; kept in memory)."""
        key = self.window_key(tracks)
        if key not in self._windows:
            settings = self.audio.settings
            limits = self._limits(tracks, settings.sample_rate)
            paths = self._paths(tracks)
            lengths = [self._length(p, lim) for p, lim in zip(paths, limits, strict=True)]
            self._windows[key] = Windows.build(
                lengths,
                settings.n_samples,
                settings.hop_samples,
                windowing=settings.windowing,
                centre=settings.crop != "start",
            )
        return self._windows[key]

    def window_key(self, tracks: Tracks) -> str:
        """What identifies the windows of these tracks (tracks, audio and window settings)."""
        s = self.audio.settings
        content = [tracks.fingerprint(), s.sample_rate, s.seconds, s.crop, s.mono]
        content += [s.hop_fraction, s.windowing, self.cap(tracks)]
        caps = self.caps(tracks)
        if len(caps) > 1:
            content.append(sorted(caps.items()))
        return hashlib.sha256(json.dumps(content).encode()).hexdigest()[:24]

    def waveforms(self, tracks: Tracks) -> np.ndarray:
        """Every window's samples ``[M, C, T]`` float32, memory-mapped from the cache."""
        return self._cached(self._entry(tracks, None), tracks, None)

    def features(
        self, tracks: Tracks, frontend: FrontEndSpec, params: Mapping[str, Any]
    ) -> np.ndarray:
        """``frontend``'s output for every window ``[M, ...]`` float32, memory-mapped, cached."""
        return self._cached(self._entry(tracks, (frontend, params)), tracks, (frontend, params))

    def _entry(
        self, tracks: Tracks, frontend: tuple[FrontEndSpec, Mapping[str, Any]] | None
    ) -> str:
        """The cache entry's name: window waveforms, or a front-end's output."""
        if frontend is None:
            return f"waveforms-{self.window_key(tracks)}"
        return f"{frontend[0].name}-{self._key(tracks, *frontend)}"

    def cut(
        self, tracks: Tracks, window_rows: np.ndarray, sample_rate: int | None = None
    ) -> np.ndarray:
        """The samples of these windows ``[B, C, T]``, cut from the audio cache.

        Args:
            tracks: the dataset's tracks.
            window_rows: rows of ``windows(tracks)``.
            sample_rate: decode at this rate (the same windows in seconds); default the run's.
        """
        windows, paths = self.windows(tracks), self._paths(tracks)
        run_rate = self.audio.settings.sample_rate
        rate = run_rate if sample_rate is None else int(sample_rate)
        store = self._store(rate)
        size, limits = store.settings.n_samples, self._limits(tracks, rate)
        out: np.ndarray | None = None
        for b, row in enumerate(np.asarray(window_rows)):
            track = int(windows.track[row])
            audio = store.load(paths[track])
            audio = audio[np.newaxis] if audio.ndim == 1 else audio
            if out is None:
                out = np.zeros((len(window_rows), audio.shape[0], size), dtype=np.float32)
            start, scale = int(windows.start[row]), rate / run_rate
            place_window(out[b], audio, start, scale=scale, limit=limits[track])
            del audio
        return out if out is not None else np.zeros((0, 1, size), dtype=np.float32)

    def _store(self, rate: int) -> AudioStore:
        """The audio store decoding at ``rate`` (the run's own, or a front-end's)."""
        if rate <= 0:
            raise ValueError(f"sample rate must be a positive number of Hz, got {rate}")
        if rate not in self._stores:
            settings = replace(self.audio.settings, sample_rate=rate)
            self._stores[rate] = AudioStore(settings, self.audio.cache_root)
        return self._stores[rate]

    def _cached(
        self, name: str, tracks: Tracks, frontend: tuple[FrontEndSpec, Mapping[str, Any]] | None
    ) -> np.ndarray:
        if name in self._memory:
            return self._memory[name]
        folder = self.root or cache_dir("features")
        path = folder / f"{name}.npy"
        array = self._read(path)
        if array is None:
            array = self._compute_once(path, tracks, frontend)
        else:
            self.loaded += 1
        self._memory[name] = array
        return array

    def _compute_once(
        self, path: Path, tracks: Tracks, frontend: tuple[FrontEndSpec, Mapping[str, Any]] | None
    ) -> np.ndarray:
        """Compute an entry under its lock, unless another process wrote it meanwhile."""
        with cache_lock(path):
            array = self._read(path)
            if array is not None:
                self.loaded += 1
                return array
            self._compute(path, tracks, frontend)
            self.computed += 1
            array = self._read(path)
        if array is None:
            raise OSError(f"{path}: cannot read the features just written")
        return array

    def _key(self, tracks: Tracks, frontend: FrontEndSpec, params: Mapping[str, Any]) -> str:
        provenance = frontend.provenance
        content = {
            "version": FEATURE_CACHE_VERSION,
            "windows": self.window_key(tracks),
            "frontend": frontend.name,
            "plugin": [provenance.distribution, provenance.version] if provenance else None,
            "params": sorted((k, repr(v)) for k, v in params.items()),
        }
        if frontend.sample_rate is not None:
            content["sample_rate"] = frontend.sample_rate
        if frontend.describe is not None:
            content["describe"] = json.dumps(dict(frontend.describe()), sort_keys=True, default=str)
        return hashlib.sha256(json.dumps(content).encode()).hexdigest()[:24]

    def _compute(
        self, path: Path, tracks: Tracks, frontend: tuple[FrontEndSpec, Mapping[str, Any]] | None
    ) -> None:
        """Write every window's waveform, or front-end output, batch by batch; a transfer
        pair's, from its two datasets' own entries."""
        if tracks.parts:
            self._stack(path, tracks, frontend)
            return
        import torch

        module, rate = None, self.audio.settings.sample_rate
        if frontend is not None:
            log.info("computing %s features for %s", frontend[0].name, tracks.name)
            rate = frontend[0].sample_rate or rate
            module = frontend[0].builder(rate, **frontend[1])
            if isinstance(module, torch.nn.Module):
                module.eval()
        with ArrayWriter(path, len(self.windows(tracks))) as out, torch.inference_mode():
            for batch in self._batches(tracks, rate):
                if module is None:
                    out.write(batch)
                else:
                    out.write(np.asarray(module(torch.from_numpy(batch)), dtype=np.float32))
        if frontend is not None and frontend[0].describe is not None:
            described = json.dumps(dict(frontend[0].describe()), indent=1, default=str)
            write_atomically(path.with_suffix(".json"), (described + "\n").encode())

    def _stack(
        self, path: Path, tracks: Tracks, frontend: tuple[FrontEndSpec, Mapping[str, Any]] | None
    ) -> None:
        """Write a pair's entry as its datasets' entries one after the other (computing those
        that are not cached yet), instead of running the front-end on every track again.

        A pair's windows are its datasets' windows in order (each side keeps its own cap), so
        its rows are theirs: a dataset's own cells and its pairs' cells read the same features,
        bit for bit, and a run over N datasets runs each front-end over each dataset once, not
        once more for each of its 2 (N - 1) pairs.
        """
        parts = [self._cached(self._entry(part, frontend), part, frontend) for part in tracks.parts]
        with ArrayWriter(path, len(self.windows(tracks))) as out:
            for part in parts:
                step = max(1, STACK_BYTES // max(1, part[:1].nbytes))
                for start in range(0, len(part), step):
                    out.write(part[start : start + step])

    def _batches(self, tracks: Tracks, rate: int) -> Iterator[np.ndarray]:
        rows = np.arange(len(self.windows(tracks)))
        for start in range(0, len(rows), BATCH):
            yield self.cut(tracks, rows[start : start + BATCH], rate)

    def _length(self, path: str, limit: int | None) -> int:
        length = int(self.audio.load(path).shape[-1])
        return length if limit is None else min(length, limit)

    @staticmethod
    def _paths(tracks: Tracks) -> list[str]:
        paths: list[str] = tracks.table["audio_path"].astype(str).tolist()
        return paths

    @staticmethod
    def _read(path: Path) -> np.ndarray | None:
        if not path.exists():
            return None
        try:
            array: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            log.warning("%s: unreadable cache entry (%s); recomputing it", path, exc)
            return None
        return array
