"""Fixed front-end features, computed once per dataset and parameters and cached on disk.

A fixed (non-trainable) front-end gives the same output in every fold, trial and candidate, so
the core runs it once over the dataset and keeps the result: in memory for the run, and as a
``.npy`` file under the cache folder for later runs. The key covers the track list and audio
files, the audio settings, the front-end's name, parameters and plugin version.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from merbench.audio import AudioStore, write_array
from merbench.data import Tracks
from merbench.paths import cache_dir
from merbench.specs import FrontEndSpec

log = logging.getLogger(__name__)

FEATURE_CACHE_VERSION = 1
BATCH = 16


class FeatureStore:
    """Waveforms and fixed front-end outputs for the tracks of a run, cached."""

    def __init__(self, audio: AudioStore, root: Path | None = None) -> None:
        self.audio = audio
        self.root = root
        self._memory: dict[str, np.ndarray] = {}
        self.computed = 0
        self.loaded = 0

    def waveforms(self, tracks: Tracks) -> np.ndarray:
        """Return the cropped clips of every track, ``[N, 1, T]`` float32 (kept in memory)."""
        key = f"waveforms:{tracks.fingerprint()}"
        if key not in self._memory:
            paths = tracks.table["audio_path"].astype(str).tolist()
            self._memory[key] = np.concatenate(
                [self.audio.batch(paths[i : i + BATCH]) for i in range(0, len(paths), BATCH)]
            )
        return self._memory[key]

    def features(
        self, tracks: Tracks, frontend: FrontEndSpec, params: Mapping[str, Any]
    ) -> np.ndarray:
        """Return ``frontend``'s output for every track (``[N, ...]`` float32), cached."""
        key = self._key(tracks, frontend, params)
        if key in self._memory:
            return self._memory[key]
        folder = self.root or cache_dir("features")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{frontend.name}-{key}.npy"
        array = self._read(path)
        if array is None:
            array = self._compute(tracks, frontend, params)
            write_array(path, array)
            self.computed += 1
        else:
            self.loaded += 1
        self._memory[key] = array
        return array

    def _key(self, tracks: Tracks, frontend: FrontEndSpec, params: Mapping[str, Any]) -> str:
        settings = self.audio.settings
        provenance = frontend.provenance
        content = {
            "version": FEATURE_CACHE_VERSION,
            "tracks": tracks.fingerprint(),
            "audio": [settings.sample_rate, settings.seconds, settings.crop, settings.mono],
            "frontend": frontend.name,
            "plugin": [provenance.distribution, provenance.version] if provenance else None,
            "params": sorted((k, repr(v)) for k, v in params.items()),
        }
        return hashlib.sha256(json.dumps(content).encode()).hexdigest()[:24]

    def _compute(
        self, tracks: Tracks, frontend: FrontEndSpec, params: Mapping[str, Any]
    ) -> np.ndarray:
        import torch

        log.info("computing %s features for %s", frontend.name, tracks.name)
        module = frontend.build(self.audio.settings.sample_rate, **params)
        if isinstance(module, torch.nn.Module):
            module.eval()
        waveforms = self.waveforms(tracks)
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(waveforms), BATCH):
                batch = torch.from_numpy(np.ascontiguousarray(waveforms[start : start + BATCH]))
                outputs.append(np.asarray(module(batch), dtype=np.float32))
        return np.concatenate(outputs)

    @staticmethod
    def _read(path: Path) -> np.ndarray | None:
        if not path.exists():
            return None
        try:
            return np.asarray(np.load(path))
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable cache entry (%s); recomputing it", path, exc)
            return None
