"""Songs matched across datasets by normalised artist and title."""

from __future__ import annotations

import pandas as pd
import pytest

from merbench.data.matching import near_misses, overlap_lines, shared_songs
from merbench.data.songs import normalise


def _table(*rows: tuple[str, str | None, str | None]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["track_id", "artist", "title"])


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Beyoncé", "beyonce"),
        ("Einstürzende Neubauten", "einsturzende neubauten"),
        ("The Kingston Trio", "the kingston trio"),  # a leading "the" goes in song_key
        ("The", "the"),
        ("Scotch & Soda", "scotch and soda"),
        ("O Superman (For Massenet)", "o superman"),
        ("Song [Remastered 2011]", "song"),
        ("Eminem feat. Rihanna", "eminem"),
        ("Love the Way You Lie ft. Rihanna", "love the way you lie"),
        ("Stay With Me", "stay with me"),
        ("Messin' with the Kid!", "messin with the kid"),
        ("\uff21\uff22\uff23", "abc"),  # full-width letters (NFKD)
        ("  Two   Spaces ", "two spaces"),
        (None, ""),
        (float("nan"), ""),
    ],
)
def test_normalise(text, key):
    assert normalise(text) == key


def test_match_songs_pairs_equal_keys_both_ways_and_ignores_unknown_names():
    a = _table(("a1", "Céline Dion", "Miracle"), ("a2", "X", "Y"), ("a3", None, "Miracle"))
    b = _table(
        ("b1", "Celine Dion", "Miracle (Live)"),
        ("b2", "celine  dion", "MIRACLE"),
        ("b3", "", "Y"),
    )
    assert shared_songs(a, b) == [("a1", "b1"), ("a1", "b2")]
    assert shared_songs(b, a) == [("b1", "a1"), ("b2", "a1")]
    assert shared_songs(a, b.iloc[:0]) == []


def test_near_misses_share_one_part_and_are_close_in_the_other():
    a = _table(("a1", "Dismember", "Carnal Tombs"), ("a2", "Buddy Gyu", "Messin With the Kid"))
    b = _table(
        ("b1", "Dismember", "Carnal Tomb"),
        ("b2", "Buddy Guy", "Messin' with the Kid"),
        ("b3", "Dismember", "Reborn in Blasphemy"),
    )
    misses = near_misses(a, b)
    assert [(m.a, m.b) for m in misses] == [("a1", "b1"), ("a2", "b2")]
    assert misses[0].a_song == "Dismember - Carnal Tombs" and 0.85 <= misses[0].similarity < 1
    assert near_misses(a, b, cutoff=0.99) == []


def test_overlap_lines_skip_tables_without_songs_and_without_overlap():
    a = _table(("a1", "Dismember", "Carnal Tomb"))
    same = _table(("b1", "DISMEMBER", "Carnal Tomb"))
    other = _table(("c1", "Someone", "Else"))
    no_titles = pd.DataFrame({"track_id": ["d1"], "artist": ["Dismember"]})
    lines = overlap_lines("a", a, {"a": a, "same": same, "other": other, "bare": no_titles})
    assert lines == [
        "note: a shares 1 song(s) with same (same artist and title), e.g. a1 = b1. Do not "
        "train on one and test on the other without leaving these out."
    ]
    assert overlap_lines("bare", no_titles, {"a": a}) == []
