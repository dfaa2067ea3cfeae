"""Seeded audio for tests without downloads: tones, and a tone dataset whose labels they carry."""

from __future__ import annotations

from pathlib import Path

import numpy as np

A4 = 440.0
"""The tones' default pitch in Hz; a tone dataset's valence moves pitch half an octave about it."""


def tone(
    seconds: float,
    sample_rate: int,
    *,
    frequency: float = A4,
    amplitude: float = 0.5,
    pulse_hz: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """A sine tone with a little seeded noise, optionally gated into pulses.

    Args:
        seconds: duration.
        sample_rate: samples per second.
        frequency: pitch in Hz.
        amplitude: peak amplitude (0..1).
        pulse_hz: pulses per second (0 for a steady tone).
        seed: noise seed.

    Returns:
        ``[T]`` float32 samples.
    """
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    signal = np.sin(2 * np.pi * frequency * t)
    if pulse_hz > 0:
        signal *= (np.sin(2 * np.pi * pulse_hz * t) > 0).astype(float)
    noise = np.random.default_rng(seed).normal(0.0, 0.01, t.shape)
    return (amplitude * signal + noise).astype(np.float32)


def write_tone_dataset(
    folder: Path,
    *,
    n_tracks: int = 24,
    n_groups: int = 6,
    seconds: float = 1.0,
    sample_rate: int = 8000,
    seed: int = 0,
) -> list[dict[str, object]]:
    """Write WAV tones whose loudness and pulse rate carry arousal, and pitch valence.

    Labels are on a 1..9 scale. Returns one row per track: ``track_id``, ``group``,
    ``audio_path``, ``arousal``, ``valence``.
    """
    import soundfile

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for i in range(n_tracks):
        arousal, valence = rng.uniform(-1, 1, 2)
        audio = tone(
            seconds,
            sample_rate,
            frequency=A4 * 2 ** (valence / 2),
            amplitude=0.3 + 0.25 * arousal,
            pulse_hz=4 + 3 * arousal,
            seed=seed + i,
        )
        path = folder / f"track-{i:03d}.wav"
        soundfile.write(path, audio, sample_rate, subtype="PCM_16")
        rows.append(
            {
                "track_id": f"track-{i:03d}",
                "group": f"group-{i % n_groups}",
                "audio_path": str(path),
                "arousal": 5 + 4 * arousal,
                "valence": 5 + 4 * valence,
            }
        )
    return rows
