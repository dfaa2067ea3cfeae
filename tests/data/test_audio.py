"""Tests of the audio store: decoding, downmixing, resampling, cropping and the disk cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from merbench.data.audio import AudioSettings, AudioStore
from merbench.data.decoding import crop_or_pad, decode, probe
from merbench.errors import DatasetError

RATE = 16000


def tone(seconds: float, rate: int, frequency: float = 440.0, channels: int = 1) -> np.ndarray:
    """Return a sine ``[T, channels]`` float32, each channel at a different amplitude."""
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * frequency * t)
    return np.stack([wave * (1 - 0.3 * c) for c in range(channels)], axis=1).astype(np.float32)


def write(path: Path, audio: np.ndarray, rate: int = RATE) -> Path:
    sf.write(path, audio, rate)
    return path


def ramp(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float32)


@pytest.fixture
def store(tmp_path) -> AudioStore:
    return AudioStore(AudioSettings(sample_rate=RATE, seconds=0.5), cache_root=tmp_path / "cache")


# decode


@pytest.mark.parametrize("suffix", ["wav", "flac", "ogg", "mp3"])
def test_decode_formats(tmp_path, suffix):
    path = write(tmp_path / f"a.{suffix}", tone(0.5, RATE))
    audio = decode(path, RATE)
    assert audio.dtype == np.float32
    assert audio.ndim == 1
    assert abs(len(audio) - RATE // 2) <= 1152  # MP3 may keep up to one frame of padding
    assert 0.3 < np.abs(audio).max() < 0.6


def test_decode_wav_is_exact(tmp_path):
    samples = tone(0.1, RATE)
    path = tmp_path / "a.wav"
    sf.write(path, samples, RATE, subtype="FLOAT")
    np.testing.assert_array_equal(decode(path, RATE), samples[:, 0])


def test_stereo_is_downmixed_to_channel_mean(tmp_path):
    stereo = np.random.default_rng(0).uniform(-0.5, 0.5, (800, 2)).astype(np.float32)
    path = tmp_path / "s.wav"
    sf.write(path, stereo, RATE, subtype="FLOAT")
    np.testing.assert_allclose(decode(path, RATE), stereo.mean(axis=1), atol=1e-7)


def test_decode_keeps_channels_when_not_mono(tmp_path):
    stereo = tone(0.1, RATE, channels=2)
    path = tmp_path / "s.wav"
    sf.write(path, stereo, RATE, subtype="FLOAT")
    np.testing.assert_array_equal(decode(path, RATE, mono=False), stereo.T)


def test_resampling_keeps_frequency_and_length(tmp_path):
    path = write(tmp_path / "a.wav", tone(2.0, 44100, channels=2), rate=44100)
    audio = decode(path, RATE)
    assert abs(len(audio) - 2 * RATE) <= 1
    spectrum = np.abs(np.fft.rfft(audio))
    peak = np.fft.rfftfreq(len(audio), 1 / RATE)[spectrum.argmax()]
    assert peak == pytest.approx(440.0, abs=1.0)


def test_decode_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(DatasetError, match=r"missing\.wav: audio file not found"):
        decode(missing, RATE)
    empty = tmp_path / "empty.mp3"
    empty.touch()
    with pytest.raises(DatasetError, match=r"empty\.mp3: audio file is empty"):
        decode(empty, RATE)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"this is not audio" * 64)
    with pytest.raises(DatasetError, match=r"corrupt\.wav: not decodable audio .*merbench verify"):
        decode(corrupt, RATE)
    with pytest.raises(DatasetError, match="not a regular file"):
        decode(tmp_path, RATE)


def test_decode_rejects_files_without_frames(tmp_path):
    path = write(tmp_path / "silent.wav", np.zeros((0, 1), dtype=np.float32))
    with pytest.raises(DatasetError, match=r"silent\.wav: audio file has no frames"):
        decode(path, RATE)
    with pytest.raises(DatasetError, match=r"silent\.wav: audio file has no frames"):
        probe(path)


def test_decode_rejects_non_finite_samples(tmp_path):
    samples = tone(0.1, RATE)
    samples[10] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, samples, RATE, subtype="FLOAT")
    with pytest.raises(DatasetError, match=r"nan\.wav: audio contains NaN"):
        decode(path, RATE)


def test_probe(tmp_path):
    path = write(tmp_path / "a.flac", tone(1.5, 22050, channels=2), rate=22050)
    info = probe(path)
    assert info["sample_rate"] == 22050
    assert info["channels"] == 2
    assert info["frames"] == round(1.5 * 22050)
    assert info["seconds"] == pytest.approx(1.5)
    with pytest.raises(DatasetError, match=r"nope\.wav: audio file not found"):
        probe(tmp_path / "nope.wav")
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"\x00" * 100)
    with pytest.raises(DatasetError, match=r"corrupt\.flac: not decodable audio"):
        probe(corrupt)


# crop_or_pad


def test_crop_start_and_centre():
    audio = ramp(10)
    np.testing.assert_array_equal(crop_or_pad(audio, 4, "start"), [0, 1, 2, 3])
    np.testing.assert_array_equal(crop_or_pad(audio, 4, "centre"), [3, 4, 5, 6])
    np.testing.assert_array_equal(crop_or_pad(audio, 5, "centre"), [2, 3, 4, 5, 6])
    np.testing.assert_array_equal(crop_or_pad(audio, 10, "centre"), audio)


def test_crop_random_is_seeded_and_in_bounds():
    audio = ramp(100)
    first = [crop_or_pad(audio, 10, "random", np.random.default_rng(7)) for _ in range(2)]
    np.testing.assert_array_equal(*first)
    rng = np.random.default_rng(0)
    starts = {int(crop_or_pad(audio, 10, "random", rng)[0]) for _ in range(500)}
    assert min(starts) >= 0
    assert max(starts) <= 90
    assert len(starts) > 50


@pytest.mark.parametrize("strategy", ["start", "centre", "random"])
def test_short_clips_are_padded_with_zeros_at_the_end(strategy):
    padded = crop_or_pad(ramp(3) + 1, 6, strategy, np.random.default_rng(0))
    np.testing.assert_array_equal(padded, [1, 2, 3, 0, 0, 0])
    assert padded.dtype == np.float32


def test_crop_works_on_the_last_axis():
    audio = np.stack([ramp(10), -ramp(10)])
    np.testing.assert_array_equal(crop_or_pad(audio, 2, "start"), [[0, 1], [0, -1]])
    assert crop_or_pad(audio, 12, "start").shape == (2, 12)


def test_crop_rejects_bad_arguments():
    with pytest.raises(ValueError, match="needs a numpy Generator"):
        crop_or_pad(ramp(10), 4, "random")
    with pytest.raises(ValueError, match="choose one of 'start', 'centre', 'random'"):
        crop_or_pad(ramp(10), 4, "middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be positive"):
        crop_or_pad(ramp(10), 0, "start")


# AudioStore


def test_second_load_is_a_memory_mapped_hit_without_decoding(tmp_path, store, monkeypatch):
    path = write(tmp_path / "a.wav", tone(1.0, 44100), rate=44100)
    first = np.array(store.load(path))
    assert (store.stats.hits, store.stats.misses) == (0, 1)

    def no_decoding(*args, **kwargs):
        raise AssertionError("soundfile was called on a cache hit")

    monkeypatch.setattr(sf, "read", no_decoding)
    monkeypatch.setattr(sf, "info", no_decoding)
    second = store.load(str(path))
    assert (store.stats.hits, store.stats.misses) == (1, 1)
    assert isinstance(second, np.memmap)
    assert not second.flags.writeable
    np.testing.assert_array_equal(second, first)
    assert len(first) == RATE


def test_cache_follows_audio_cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "env-cache"))
    store = AudioStore(AudioSettings(sample_rate=RATE))
    path = write(tmp_path / "a.wav", tone(0.2, RATE))
    store.load(path)
    assert store.entry_path(path).is_relative_to(tmp_path / "env-cache" / "audio")
    assert store.entry_path(path).exists()


def test_changed_file_is_decoded_again(tmp_path, store):
    path = write(tmp_path / "a.wav", tone(0.2, RATE))
    store.load(path)
    write(path, tone(0.3, RATE, frequency=220.0))
    stamp = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(stamp, stamp))
    audio = store.load(path)
    assert (store.stats.hits, store.stats.misses) == (0, 2)
    assert len(audio) == round(0.3 * RATE)


def test_touched_file_with_same_size_is_decoded_again(tmp_path, store):
    path = write(tmp_path / "a.wav", tone(0.2, RATE))
    store.load(path)
    stamp = path.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
    store.load(path)
    assert store.stats.misses == 2


def test_key_covers_settings(tmp_path):
    path = write(tmp_path / "a.wav", tone(0.2, RATE))
    root = tmp_path / "cache"
    entries = {
        AudioStore(settings, cache_root=root).entry_path(path)
        for settings in [
            AudioSettings(sample_rate=16000),
            AudioSettings(sample_rate=22050),
            AudioSettings(sample_rate=16000, mono=False),
            AudioSettings(sample_rate=16000, seconds=3.0, crop="start"),  # crop: same entry
        ]
    }
    assert len(entries) == 3


@pytest.mark.parametrize(
    "damage",
    [b"", b"garbage" * 10, "truncate"],
    ids=["empty", "not-npy", "truncated"],
)
def test_corrupt_cache_entry_is_rebuilt(tmp_path, store, damage, caplog):
    path = write(tmp_path / "a.wav", tone(0.2, RATE))
    expected = np.array(store.load(path))
    entry = store.entry_path(path)
    content = entry.read_bytes()
    entry.write_bytes(content[: len(content) // 2] if damage == "truncate" else damage)
    audio = store.load(path)
    np.testing.assert_array_equal(audio, expected)
    assert (store.stats.misses, store.stats.rebuilt) == (2, 1)
    assert "unreadable audio cache entry" in caplog.text
    store.load(path)
    assert store.stats.hits == 1


def test_cache_entry_with_wrong_dtype_is_rebuilt(tmp_path, store):
    path = write(tmp_path / "a.wav", tone(0.2, RATE))
    store.load(path)
    np.save(store.entry_path(path), np.zeros(5, dtype=np.float64))
    assert store.load(path).dtype == np.float32
    assert store.stats.rebuilt == 1


def cache_files(folder: Path) -> list[Path]:
    """The files of a cache folder but its lock files (which stay, see ``merbench.paths``)."""
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def test_no_temporary_files_are_left(tmp_path, store):
    for index in range(3):
        store.load(write(tmp_path / f"{index}.wav", tone(0.1, RATE)))
    files = [p.name for p in cache_files(tmp_path / "cache")]
    assert len(files) == 3
    assert all(name.endswith(".npy") and not name.startswith(".") for name in files)


def test_failed_write_leaves_nothing(tmp_path, store, monkeypatch):
    path = write(tmp_path / "a.wav", tone(0.1, RATE))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        store.load(path)
    assert not cache_files(tmp_path / "cache")


def test_unwritable_cache_still_returns_audio(tmp_path, store, monkeypatch, caplog):
    path = write(tmp_path / "a.wav", tone(0.1, RATE))

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    assert len(store.load(path)) == round(0.1 * RATE)
    assert "cannot write audio cache entry" in caplog.text


def test_store_errors_name_the_file(tmp_path, store):
    with pytest.raises(DatasetError, match=r"gone\.mp3: audio file not found"):
        store.load(tmp_path / "gone.mp3")
    corrupt = tmp_path / "bad.flac"
    corrupt.write_bytes(b"not flac at all" * 10)
    with pytest.raises(DatasetError, match=r"bad\.flac: not decodable audio"):
        store.clip(corrupt)
    assert not cache_files(tmp_path / "cache")


def test_clip_crops_and_pads(tmp_path):
    samples = ramp(RATE).reshape(-1, 1) / RATE
    long = tmp_path / "long.wav"
    sf.write(long, samples, RATE, subtype="FLOAT")
    short = write(tmp_path / "short.wav", tone(0.1, RATE))
    store = AudioStore(
        AudioSettings(sample_rate=RATE, seconds=0.25, crop="start"), cache_root=tmp_path / "c"
    )
    clip = store.clip(long)
    assert clip.shape == (4000,)
    assert type(clip) is np.ndarray
    assert clip.flags.writeable
    np.testing.assert_allclose(clip, samples[:4000, 0])
    padded = store.clip(short)
    assert padded.shape == (4000,)
    assert not padded[1600:].any()


def test_batch_shape_and_random_crops(tmp_path):
    paths = [str(write(tmp_path / f"{i}.wav", tone(1.0, RATE, 200.0 * (i + 1)))) for i in range(3)]
    store = AudioStore(
        AudioSettings(sample_rate=RATE, seconds=0.5, crop="random"), cache_root=tmp_path / "c"
    )
    batch = store.batch(paths, np.random.default_rng(3))
    assert batch.shape == (3, 1, RATE // 2)
    assert batch.dtype == np.float32
    np.testing.assert_array_equal(batch, store.batch(paths, np.random.default_rng(3)))
    assert store.batch([], np.random.default_rng(3)).shape == (0, 1, RATE // 2)


def test_batch_keeps_channels_when_not_mono(tmp_path):
    stereo = write(tmp_path / "s.wav", tone(0.5, RATE, channels=2))
    mono = write(tmp_path / "m.wav", tone(0.5, RATE))
    store = AudioStore(AudioSettings(sample_rate=RATE, seconds=0.25, mono=False), tmp_path / "c")
    assert store.batch([str(stereo), str(stereo)]).shape == (2, 2, 4000)
    with pytest.raises(DatasetError, match=r"m\.wav: has 1 channels, the batch has 2"):
        store.batch([str(stereo), str(mono)])
