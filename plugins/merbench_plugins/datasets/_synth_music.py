"""The music of a synth clip: artists, the cues drawn from a clip's emotion, and their rendering.

An artist has a timbre (harmonic profile, envelope), a key, a production (``_synth_studio``) and
a region of the arousal-valence plane its songs lean to. A clip's cues follow its latent arousal
and valence; melody, chords and drums are rendered from them with the artist's timbre, then
mixed and mastered in the artist's studio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from merbench_plugins.datasets._synth_studio import Production, draw_production, master

MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
MINOR = np.array([0, 2, 3, 5, 7, 8, 11])  # harmonic minor: its raised 7th keeps V a major chord
PROGRESSION = np.array([0, 0, 3, 4, 0, 5, 3, 4])  # I I IV V I vi IV V, one chord a bar
N_HARMONICS = 8
TABLE_SIZE = 2048
HAT_SECONDS = 0.08  # a hi-hat has decayed below -40 dB by then
TRANSPOSE = 1  # an artist's key is moved by up to this many semitones
LEAN = 0.5  # artists' centres spread over -LEAN..LEAN of the -1..1 latent scale


@dataclass(frozen=True, kw_only=True, slots=True)
class Artist:
    """A synthetic artist: a timbre, a key, a production and a region of the emotion plane."""

    name: str
    harmonics: np.ndarray  # [N_HARMONICS] amplitude of each harmonic before the clip's tilt
    attack: float  # seconds to full level
    decay: float  # exponential decay rate, 1/s
    transpose: int  # semitones added to the key of every clip
    production: Production
    arousal_centre: float  # its songs' latent arousal is drawn around this, -1..1 scale
    valence_centre: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Cues:
    """The musical parameters of one clip, drawn from its latent arousal and valence."""

    tempo: float  # beats per minute
    density: int  # melody notes per beat
    articulation: float  # sounding fraction of each melody note: 1 legato, 0.2 staccato
    level_db: float  # peak level, dB full scale
    tilt: float  # harmonic h has amplitude h ** -tilt: lower is brighter
    is_major: bool
    dissonance: float  # level of the minor second and tritone added to each chord
    tonic: int  # MIDI note of the key's tonic, the chords' register

    @property
    def beat(self) -> float:
        """Seconds per beat."""
        return 60.0 / self.tempo


@dataclass(frozen=True, kw_only=True, slots=True)
class _Canvas:
    """What every part of one clip is rendered with."""

    n_samples: int
    sample_rate: int
    tables: np.ndarray  # [N_HARMONICS * TABLE_SIZE] band-limited wavetables, see _wavetables
    artist: Artist
    cues: Cues


def _strata(n: int, rng: np.random.Generator) -> np.ndarray:
    """One point in each of ``n`` equal slices of -1..1, in random order: ``[n]``.

    Centres drawn this way cover the plane even for a few artists (a Latin hypercube), so the
    share of label variance between artists does not hinge on luck.
    """
    return (rng.permutation(n) + rng.uniform(0, 1, n)) / n * 2 - 1


def make_artists(n_artists: int, rng: np.random.Generator) -> list[Artist]:
    """Draw artists, each with its own timbre, key, production and region of the plane."""
    harmonics = np.arange(1, N_HARMONICS + 1)
    centres = LEAN * np.column_stack([_strata(n_artists, rng), _strata(n_artists, rng)])
    return [
        Artist(
            name=f"artist-{i:02d}",
            harmonics=rng.uniform(0.2, 1.0, N_HARMONICS) / harmonics ** rng.uniform(0.3, 1.0),
            attack=float(rng.uniform(0.002, 0.03)),
            decay=float(rng.uniform(1.5, 6.0)),
            transpose=int(rng.integers(-TRANSPOSE, TRANSPOSE + 1)),
            production=draw_production(rng),
            arousal_centre=float(centres[i, 0]),
            valence_centre=float(centres[i, 1]),
        )
        for i in range(n_artists)
    ]


def draw_cues(arousal: float, valence: float, artist: Artist, rng: np.random.Generator) -> Cues:
    """Map latent arousal and valence (each in -1..1) to musical cues, each with some slack."""
    a = (arousal + 1) / 2
    v = (valence + 1) / 2
    return Cues(
        tempo=float(np.clip(70 + 110 * a + rng.normal(0, 6), 60, 190)),
        density=int(np.clip(np.round(1 + 3 * a + rng.normal(0, 0.4)), 1, 4)),
        articulation=float(np.clip(0.95 - 0.7 * a + rng.normal(0, 0.05), 0.2, 1.0)),
        level_db=float(np.clip(-18 + 16 * a + rng.normal(0, 1.5), -24, -1)),
        tilt=float(np.clip(2.2 - 1.8 * a + rng.normal(0, 0.15), 0.2, 2.6)),
        is_major=bool(rng.random() < 1 / (1 + np.exp(-6 * valence))),
        dissonance=float(np.clip(0.6 * (1 - v) ** 2 + rng.normal(0, 0.03), 0, 0.6)),
        tonic=int(np.round(45 + 12 * v + rng.normal(0, 1))) + artist.transpose,
    )


def _wavetables(weights: np.ndarray) -> np.ndarray:
    """Return one cycle of the tone for each number of harmonics, flattened.

    Row ``h - 1`` of the ``[N_HARMONICS, TABLE_SIZE]`` table sums the first ``h`` harmonics, so a
    note can use only those below the Nyquist frequency (no aliasing).
    """
    phase = np.arange(TABLE_SIZE) / TABLE_SIZE
    orders = np.arange(1, N_HARMONICS + 1)[:, None]
    partials = weights[:, None] * np.sin(2 * np.pi * orders * phase)
    return np.cumsum(partials, axis=0).ravel().astype(np.float32)


def _grid(n_samples: int, step: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Split a clip into notes ``step`` seconds apart.

    Returns:
        ``[N]`` samples in each note, and ``[T]`` samples since the onset of each sample's note.
    """
    count = int(np.ceil(n_samples / (step * sample_rate)))
    onsets = np.round(np.arange(count + 1) * step * sample_rate).astype(np.int64)
    lengths = np.diff(np.minimum(onsets, n_samples))
    return lengths, np.arange(n_samples) - np.repeat(onsets[:-1], lengths)


def _voices(
    canvas: _Canvas, pitches: np.ndarray, gains: np.ndarray, step: float, length: float
) -> np.ndarray:
    """Render voices that play a note every ``step`` seconds, mixed: ``[T]``.

    Args:
        canvas: the clip being rendered.
        pitches: ``[V, N]`` MIDI pitches: voice ``v`` plays ``pitches[v, n]`` from ``n * step``;
            ``N`` notes cover the clip.
        gains: ``[V]`` level of each voice.
        step: seconds between onsets.
        length: seconds each note sounds, at most ``step``.
    """
    sr = canvas.sample_rate
    lengths, since = _grid(canvas.n_samples, step, sr)
    freqs = 440.0 * 2 ** ((pitches - 69) / 12)
    rows = np.clip((sr / 2 - 100) // freqs, 1, N_HARMONICS).astype(np.int64) - 1
    # Phase in 1/65536ths of a table sample per sample: integer arithmetic, exact everywhere.
    increments = np.round(freqs * TABLE_SIZE / sr * 65536).astype(np.int64)
    phases = (since * np.repeat(increments, lengths, axis=1)) >> 16 & (TABLE_SIZE - 1)
    phases += np.repeat(rows * TABLE_SIZE, lengths, axis=1)
    wave = np.einsum("v,vt->t", gains.astype(np.float32), np.take(canvas.tables, phases))
    seconds = np.arange(lengths.max()) / sr
    artist = canvas.artist
    envelope = np.minimum(seconds / artist.attack, 1.0) * np.exp(-artist.decay * seconds)
    envelope *= np.clip((length - seconds) / 0.01, 0.0, 1.0)  # a 10 ms release: no click
    return np.asarray(wave * envelope[since])


def _melody(canvas: _Canvas, rng: np.random.Generator) -> np.ndarray:
    """A melody mostly on the tones of the bar's chord (so the mode is heard), some passing."""
    cues = canvas.cues
    step = cues.beat / cues.density
    count = int(np.ceil(canvas.n_samples / (step * canvas.sample_rate)))
    bars = (np.arange(count) // (4 * cues.density)) % len(PROGRESSION)
    is_chord_tone = rng.random(count) < 0.75
    offsets = np.where(is_chord_tone, rng.choice([0, 2, 4], count), rng.integers(0, 7, count))
    degrees = PROGRESSION[bars] + offsets
    octaves = 1 + degrees // 7
    scale = MAJOR if cues.is_major else MINOR
    pitches = cues.tonic + 12 * octaves + scale[degrees % 7]
    return _voices(canvas, pitches[None, :], np.ones(1), step, step * cues.articulation)


def _chords(canvas: _Canvas) -> np.ndarray:
    """One triad a bar, with a minor second and a tritone above its root as dissonance."""
    cues = canvas.cues
    bar = 4 * cues.beat
    count = int(np.ceil(canvas.n_samples / (bar * canvas.sample_rate)))
    degrees = PROGRESSION[np.arange(count) % len(PROGRESSION)]
    scale = MAJOR if cues.is_major else MINOR
    triad = degrees[None, :] + np.array([0, 2, 4])[:, None]  # [3, N] scale degrees
    pitches = cues.tonic + 12 * (triad // 7) + scale[triad % 7]
    clashes = pitches[:1] + np.array([1, 6])[:, None]
    gains = 0.35 * np.array([1.0, 1.0, 1.0, cues.dissonance, cues.dissonance])
    return _voices(canvas, np.vstack([pitches, clashes]), gains, bar, 0.95 * bar)


def _hits(canvas: _Canvas, step: float, sounds: np.ndarray) -> np.ndarray:
    """Mix ``sounds[k]`` (``[K, L]``) in at ``k * step`` seconds for every ``k``: ``[T]``."""
    track = np.zeros(canvas.n_samples + sounds.shape[1])
    for k, sound in enumerate(sounds):
        start = round(k * step * canvas.sample_rate)
        track[start : start + len(sound)] += sound
    return track[: canvas.n_samples]


def _drums(canvas: _Canvas, rng: np.random.Generator) -> np.ndarray:
    """A kick on every beat and a noise hi-hat on every subdivision (at least eighths)."""
    cues = canvas.cues
    seconds = canvas.n_samples / canvas.sample_rate
    t = np.arange(round(0.2 * canvas.sample_rate)) / canvas.sample_rate
    sweep = 50 * t + 2 * (1 - np.exp(-30 * t))  # a pitch falling from 110 Hz to 50 Hz
    kick = np.sin(2 * np.pi * sweep) * np.exp(-25 * t)
    beats = int(np.ceil(seconds / cues.beat))
    tick = cues.beat / max(cues.density, 2)
    short = t[: round(HAT_SECONDS * canvas.sample_rate)]
    noise = np.diff(rng.standard_normal((int(np.ceil(seconds / tick)), len(short) + 1)))
    hats = noise * np.exp(-(120 - 60 * cues.articulation) * short)  # a difference brightens noise
    level = 0.15 + 0.25 * cues.density / 4
    return _hits(canvas, cues.beat, np.tile(kick, (beats, 1))) + level * _hits(canvas, tick, hats)


def render_clip(
    cues: Cues,
    artist: Artist,
    n_samples: int,
    sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Render one clip in the artist's studio: ``[T]`` float32, peak at ``cues.level_db``."""
    weights = artist.harmonics * np.arange(1, N_HARMONICS + 1) ** -cues.tilt
    canvas = _Canvas(
        n_samples=n_samples,
        sample_rate=sample_rate,
        tables=_wavetables(weights),
        artist=artist,
        cues=cues,
    )
    stems = (_melody(canvas, rng), _chords(canvas), _drums(canvas, rng))
    mix = master(stems, artist.production, sample_rate, rng)
    peak = max(float(np.abs(mix).max()), 1e-9)
    return (mix * (10 ** (cues.level_db / 20) / peak)).astype(np.float32)
