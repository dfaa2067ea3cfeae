"""The same songs in two datasets, matched by normalised artist and title.

Datasets built from one source share songs: MERGE extends 4Q, emoMusic's songs are DEAM's, MERP
borrows DEAM anchors. A song in one dataset's training folds and another's test fold is a leak a
cross-dataset comparison must know about. ``shared_songs`` pairs two track tables by the key of
``merbench.data.songs`` (case, accents, punctuation, "feat." credits and parenthesised version
notes ignored); ``near_misses`` names pairs that almost match, so a reader can
judge what the key missed; ``overlap_line`` is the sentence ``merbench verify`` prints.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from merbench.data.songs import match_songs, normalise

if TYPE_CHECKING:
    import pandas as pd

NEAR = 0.85
"""The similarity (``difflib`` ratio of the normalised text) above which a pair is a near miss."""
SHOWN = 3
"""How many examples a summary line names."""


@dataclass(frozen=True, slots=True)
class NearMiss:
    """Two tracks whose keys differ but are close: ``a`` of the first table, ``b`` of the
    second, their ``artist - title`` as written, and the similarity of the differing part."""

    a: str
    b: str
    a_song: str
    b_song: str
    similarity: float


def _keys(table: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """``track_id -> (normalised artist, normalised title)`` for rows that have both."""
    rows = zip(table["track_id"], table["artist"], table["title"], strict=True)
    keys = {str(t): _parts(artist, title) for t, artist, title in rows}
    return {t: key for t, key in keys.items() if all(key)}


def _parts(artist: object, title: object) -> tuple[str, str]:
    """Artist and title as ``songs.song_key`` compares them."""
    who = normalise(artist)
    return (who[4:] if who.startswith("the ") else who), normalise(title)


def shared_songs(a: pd.DataFrame, b: pd.DataFrame) -> list[tuple[str, str]]:
    """Return the ``(a track_id, b track_id)`` pairs that are the same song by metadata
    (``merbench.data.songs.match_songs`` without fingerprints), sorted; a song present twice in
    one table pairs with each copy in the other."""
    return sorted((m.a, m.b) for m in match_songs(a, b))


def near_misses(a: pd.DataFrame, b: pd.DataFrame, *, cutoff: float = NEAR) -> list[NearMiss]:
    """Return pairs that share the artist or the title but not both, and differ only a little.

    A pair is a near miss when one of the normalised artist and title is equal and the other is
    at least ``cutoff`` similar (``difflib.SequenceMatcher`` ratio): typos, a missing word,
    ``Pt. 2`` against ``Part 2``. Exact matches (``shared_songs``) are not near misses.

    Returns:
        Near misses, the most similar first.
    """
    keys_a, keys_b = _keys(a), _keys(b)
    found = []
    for position in (0, 1):  # 0: same artist, title differs; 1: same title, artist differs
        shared: dict[str, list[str]] = defaultdict(list)
        for track_id, key in keys_b.items():
            shared[key[position]].append(track_id)
        for track_id, key in keys_a.items():
            for other in shared.get(key[position], ()):
                left, right = key[1 - position], keys_b[other][1 - position]
                if left == right:
                    continue
                ratio = difflib.SequenceMatcher(None, left, right).ratio()
                if ratio >= cutoff:
                    found.append(
                        NearMiss(track_id, other, _song(a, track_id), _song(b, other), ratio)
                    )
    return sorted(found, key=lambda m: (-m.similarity, m.a, m.b))


def _song(table: pd.DataFrame, track_id: str) -> str:
    row = table.loc[table["track_id"].astype(str) == track_id].iloc[0]
    return f"{row['artist']} - {row['title']}"


def overlap_line(
    name: str, table: pd.DataFrame, other: str, other_table: pd.DataFrame
) -> str | None:
    """Return the ``merbench verify`` note on the songs dataset ``name`` shares with ``other``.

    Args:
        name: the dataset checked.
        table: its track table (``track_id``, ``artist``, ``title``).
        other: another declared dataset.
        other_table: its track table.

    Returns:
        One line naming the shared songs and the near misses, or ``None`` when there are none.
    """
    pairs = shared_songs(table, other_table)
    misses = near_misses(table, other_table)
    if not pairs and not misses:
        return None
    shared = len({a for a, _ in pairs})
    line = f"note: {name} shares {shared} song(s) with {other} (same artist and title)"
    if pairs:
        shown = ", ".join(f"{a} = {b}" for a, b in pairs[:SHOWN])
        line += (
            f", e.g. {shown}. Do not train on one and test on the other without leaving these out"
        )
    if misses:
        shown = "; ".join(f"'{m.a_song}' ~ '{m.b_song}'" for m in misses[:SHOWN])
        line += f"; {len(misses)} near miss(es) to check by hand, e.g. {shown}"
    return line + "."


def overlap_lines(name: str, table: pd.DataFrame, others: Mapping[str, pd.DataFrame]) -> list[str]:
    """Return ``overlap_line`` for each of ``others`` that has artists and titles and shares
    or nearly shares a song with ``table``."""
    if not _has_songs(table.columns):
        return []
    lines = (
        overlap_line(name, table, other, other_table)
        for other, other_table in others.items()
        if other != name and _has_songs(other_table.columns)
    )
    return [line for line in lines if line is not None]


def _has_songs(columns: Iterable[object]) -> bool:
    return {"track_id", "artist", "title"} <= {str(c) for c in columns}
