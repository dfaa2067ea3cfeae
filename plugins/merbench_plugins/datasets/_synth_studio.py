"""The studio of a synth artist: mix balance, EQ, room and noise floor, the same on all its songs.

Real catalogues are recorded, mixed and mastered by the same people in the same rooms, so an
artist's songs share a production signature that a model can learn to recognise. This module
draws such a signature per artist, independently of the artist's emotional leaning, and applies
it to the stems of a clip. It carries no emotion by itself; it only tells artists apart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

EQ_BANDS = (150.0, 600.0, 2400.0)
"""Centre frequencies (Hz) of the three bell filters of an artist's EQ."""
EQ_WIDTH = 0.8  # standard deviation of each bell, in octaves
PREDELAY = 0.02  # seconds between the direct sound and the room's first reflections
FLOOR_LOW_HZ = 40.0  # below this the noise floor's colour curve stays flat


@dataclass(frozen=True, kw_only=True, slots=True)
class Production:
    """How one artist's songs are mixed and mastered.

    Attributes:
        chords: level of the chords against the melody (level 1).
        drums: level of the drums against the melody.
        eq_db: gain in dB of the bell filters at ``EQ_BANDS``.
        room_seconds: the room's reverberation time (RT60), seconds.
        room_wet: level of the reverberated sound against the direct sound.
        room_seed: seed of the room's impulse response (the same room for every song).
        floor_db: RMS level of the noise floor against the clip's, dB.
        floor_tilt: slope of the noise floor's spectrum, dB per octave (0 white, -3 pink).
    """

    chords: float
    drums: float
    eq_db: tuple[float, float, float]
    room_seconds: float
    room_wet: float
    room_seed: int
    floor_db: float
    floor_tilt: float


def draw_production(rng: np.random.Generator) -> Production:
    """Draw one artist's production, with no regard to what its songs express."""
    return Production(
        chords=float(rng.uniform(0.3, 0.7)),
        drums=float(rng.uniform(0.35, 0.85)),
        eq_db=(
            float(rng.uniform(-2, 2)),
            float(rng.uniform(-2, 2)),
            float(rng.uniform(-2, 2)),
        ),
        room_seconds=float(rng.uniform(0.15, 1.0)),
        room_wet=float(rng.uniform(0.05, 0.3)),
        room_seed=int(rng.integers(2**31)),
        floor_db=float(rng.uniform(-52, -34)),
        floor_tilt=float(rng.uniform(-6, 0)),
    )


def house_style(productions: list[Production], strength: float, seed: int) -> list[Production]:
    """Give every artist of a set one studio's habits on top of its own, ``strength`` 0..1.

    A set's songs recorded, mixed and mastered in one place share an EQ (up to +-8 dB per band
    at full strength), a longer and wetter room and a louder noise floor: a dataset's production
    signature, which a model trained on another set has never heard. It is drawn from ``seed``
    alone, so it does not change the artists' own productions, timbres or emotions.
    """
    if strength <= 0:
        return productions
    rng = np.random.default_rng([seed, 0x486F757365])  # "House"
    eq = rng.choice([-1.0, 1.0], 3) * rng.uniform(5.0, 8.0, 3) * strength
    return [
        replace(
            p,
            eq_db=(p.eq_db[0] + eq[0], p.eq_db[1] + eq[1], p.eq_db[2] + eq[2]),
            room_seconds=p.room_seconds + 1.0 * strength,
            room_wet=p.room_wet + 0.4 * strength,
            floor_db=p.floor_db + 16.0 * strength,
        )
        for p in productions
    ]


@lru_cache(maxsize=64)
def _response(production: Production, n_samples: int, sample_rate: int) -> np.ndarray:
    """The EQ and the room as one frequency response: ``[n_samples // 2 + 1]`` complex.

    The room is exponentially decaying noise (-60 dB after ``room_seconds``) of unit energy,
    after ``PREDELAY`` seconds, added to the direct sound at ``room_wet``. The convolution is
    circular: the tail of a clip's last notes sounds at its start, as if the song had been
    playing before the excerpt (and a room longer than the clip is cut to the clip's length).
    """
    freqs = np.fft.rfftfreq(n_samples, 1 / sample_rate)
    octaves = np.log2(np.maximum(freqs, 1.0)[None, :] / np.array(EQ_BANDS)[:, None])
    gain_db = np.array(production.eq_db) @ np.exp(-0.5 * (octaves / EQ_WIDTH) ** 2)
    seconds = np.arange(round(production.room_seconds * sample_rate)) / sample_rate
    noise = np.random.default_rng([production.room_seed, 0]).standard_normal(len(seconds))
    impulse = noise * np.exp(-np.log(1000) * seconds / production.room_seconds)
    impulse = np.concatenate([np.zeros(round(PREDELAY * sample_rate)), impulse])
    room = np.fft.rfft(impulse[:n_samples] / np.sqrt(np.sum(impulse**2)), n_samples)
    response = 10 ** (gain_db / 20) * (1 + production.room_wet * room)
    response.flags.writeable = False
    return response


@lru_cache(maxsize=64)
def _noise_floor(production: Production, n_samples: int, sample_rate: int) -> np.ndarray:
    """The artist's noise floor: ``[T]`` noise with its spectral slope and unit RMS.

    Each clip plays it from a random point (circularly), which is cheaper than drawing new noise
    and sounds the same.
    """
    freqs = np.fft.rfftfreq(n_samples, 1 / sample_rate)
    shape = (np.maximum(freqs, FLOOR_LOW_HZ) / 1000) ** (production.floor_tilt / (20 * np.log10(2)))
    rng = np.random.default_rng([production.room_seed, 1])
    spectrum = rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))
    noise = np.fft.irfft(spectrum * shape, n_samples)
    noise /= max(float(np.sqrt(np.mean(noise**2))), 1e-12)
    noise.flags.writeable = False
    return noise


def master(
    stems: tuple[np.ndarray, np.ndarray, np.ndarray],
    production: Production,
    sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mix melody, chords and drums (each ``[T]``), apply EQ and room, add the noise floor.

    Returns:
        ``[T]`` float64, not yet scaled to the clip's level.
    """
    melody, chords, drums = stems
    mix = melody + production.chords * chords + production.drums * drums
    n_samples = len(mix)
    response = _response(production, n_samples, sample_rate)
    wet = np.fft.irfft(np.fft.rfft(mix) * response, n_samples)
    level = float(np.sqrt(np.mean(wet**2))) * 10 ** (production.floor_db / 20)
    floor = _noise_floor(production, n_samples, sample_rate)
    return np.asarray(wet + level * np.roll(floor, int(rng.integers(n_samples))))
