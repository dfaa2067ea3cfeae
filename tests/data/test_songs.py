"""Songs two datasets share: normalised metadata, audio fingerprints, the real MediaEval sets."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile

from merbench.data.songs import (
    Fingerprints,
    bit_error,
    match_songs,
    matched_tracks,
    normalise,
    song_key,
)
from tests.plugins.layouts import reference

RATE = 11025


def test_normalise_folds_case_accents_brackets_featuring_and_punctuation():
    assert normalise("  Beyoncé  ") == "beyonce"
    assert normalise("Halo (Live at Wembley) [Remastered]") == "halo"
    assert normalise("Crazy in Love feat. Jay-Z") == "crazy in love"
    assert normalise("Song ft Someone") == "song"
    assert normalise("Rock & Roll!") == "rock and roll"
    assert (
        normalise("\uff26\uff55\uff4c\uff4c\u3000\uff37\uff49\uff44\uff54\uff48") == "full width"
    )  # NFKD
    assert normalise("(Untitled 1)") == "untitled 1"  # nothing but brackets: kept
    assert normalise(None) == "" and normalise(float("nan")) == ""


def test_song_key_needs_artist_and_title_and_drops_a_leading_the():
    assert song_key("The Beatles", "Help!") == song_key("beatles", "HELP")
    assert song_key("", "Help") is None
    assert song_key("Beatles", None) is None
    assert song_key("Beatles", "Help") != song_key("Beatles", "Yesterday")


def test_match_songs_by_metadata_pairs_only_the_same_song():
    a = pd.DataFrame(
        {"track_id": ["1", "2", "3"], "artist": ["Björk", "Low", None], "title": ["Jóga", "X", "Y"]}
    )
    b = pd.DataFrame(
        {
            "track_id": ["a", "b", "c"],
            "artist": ["BJORK", "Low", None],
            "title": ["Joga (Radio Edit)", "Z", "Y"],
        }
    )
    matches = match_songs(a, b)
    assert [(m.a, m.b, m.method) for m in matches] == [("1", "a", "metadata")]
    assert matched_tracks(matches) == {"a": "metadata"}


def _music(seed: int, seconds: float = 12.0) -> np.ndarray:
    """Notes of random pitch and length with harmonics: something Chromaprint can tell apart."""
    rng = np.random.default_rng(seed)
    out, t = [], 0.0
    while t < seconds:
        length = float(rng.uniform(0.15, 0.5))
        n = round(length * RATE)
        time = np.arange(n) / RATE
        pitch = 110 * 2 ** (rng.integers(0, 36) / 12)
        note = sum(np.sin(2 * np.pi * pitch * k * time) / k for k in range(1, 5))
        out.append(note * np.exp(-3 * time))
        t += length
    audio = np.concatenate(out)[: round(seconds * RATE)]
    return (0.3 * audio / np.abs(audio).max()).astype(np.float32)


def _fpcalc() -> str:
    path = shutil.which("fpcalc")
    if path is None:
        message = "fpcalc is not installed (apt-get install libchromaprint-tools)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_fingerprints_find_an_excerpt_of_the_same_recording_and_are_cached(tmp_path):
    fingerprints = Fingerprints(_fpcalc(), tmp_path / "cache")
    song, other = _music(1), _music(2)
    soundfile.write(tmp_path / "song.wav", song, RATE)
    soundfile.write(tmp_path / "excerpt.wav", song[RATE : 11 * RATE], RATE)  # 1 s in, 10 s
    soundfile.write(tmp_path / "other.wav", other, RATE)
    full = fingerprints(str(tmp_path / "song.wav"))
    excerpt = fingerprints(str(tmp_path / "excerpt.wav"))
    different = fingerprints(str(tmp_path / "other.wav"))
    assert full is not None and excerpt is not None and different is not None
    assert bit_error(full, excerpt) < 0.1
    assert bit_error(full, different) > 0.3
    computed = fingerprints.computed
    assert np.array_equal(fingerprints(str(tmp_path / "song.wav")), full)
    assert fingerprints.computed == computed  # read back from the cache
    assert fingerprints(str(tmp_path / "missing.wav")) is None


def test_match_songs_uses_fingerprints_only_where_metadata_cannot_tell(tmp_path):
    fingerprints = Fingerprints(_fpcalc(), tmp_path / "cache")
    for name, seed in (("a1", 1), ("a2", 2), ("b1", 1), ("b2", 3), ("b3", 2)):
        soundfile.write(tmp_path / f"{name}.wav", _music(seed), RATE)
    a = pd.DataFrame(
        {
            "track_id": ["a1", "a2"],
            "artist": [None, "Someone"],
            "title": [None, "Song"],
            "audio_path": [str(tmp_path / "a1.wav"), str(tmp_path / "a2.wav")],
        }
    )
    b = pd.DataFrame(
        {
            "track_id": ["b1", "b2", "b3"],
            "artist": [None, None, "Someone Else"],
            "title": [None, None, "Other Song"],
            "audio_path": [str(tmp_path / f"b{i}.wav") for i in (1, 2, 3)],
        }
    )
    found = {(m.a, m.b, m.method) for m in match_songs(a, b, fingerprint=fingerprints)}
    # b3 has metadata and so has a2: they differ, so the same audio is not compared
    assert found == {("a1", "b1", "fingerprint")}


def test_every_emomusic_song_is_found_in_deam_by_metadata():
    """The 744 emoMusic clips are MediaEval 2013 songs, all in DEAM (published accounts)."""
    from merbench_plugins.datasets import deam, emomusic

    deam_songs = deam.read_metadata(reference("DEAM"))
    emo_songs = emomusic.read_songs(reference("emoMusic"))
    matches = match_songs(deam_songs, emo_songs)
    found = matched_tracks(matches)
    assert len(emo_songs) == 744
    assert len(found) == 744
    same_id = {m.b for m in matches if m.a == m.b}
    assert len(same_id) == 744  # both sets keep the MediaEval 2013 song ids
    # DEAM holds one of them twice: song 187 of 2013 is song 1170 of 2014
    assert {(m.a, m.b) for m in matches if m.a != m.b} == {("1170", "187")}
