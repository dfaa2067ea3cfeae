"""The same songs in two datasets, matched by normalised artist and title.

Datasets built from one source share songs: MERGE extends 4Q, emoMusic's songs are DEAM's, MERP
borrows DEAM anchors. A song in one dataset's training folds and another's test fold is a leak a
cross-dataset comparison must know about. ``match_songs`` pairs two track tables by a key that
ignores what catalogues spell differently (case, accents, punctuation, "feat." credits,
parenthesised version notes); ``near_misses`` names pairs that almost match, so a reader can
judge what the key missed; ``overlap_line`` is the sentence ``merbench verify`` prints.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

_BRACKETED = re.compile(r"\([^)]*\)|\[[^]]*\]|\{[^}]*\}")
_FEATURING = re.compile(r"\b(?:feat|featuring|ft)\b\.?.*$")
_NOT_WORD = re.compile(r"[^\w\s]|_")
NEAR = 0.85
"""The similarity (``difflib`` ratio of the normalised text) above which a pair is a near miss."""
SHOWN = 3
"""How many examples a summary line names."""


def normalise(text: object) -> str:
    """Return ``text`` as a matching key: the parts every catalogue agrees on.

    Unicode NFKD with combining marks dropped (``Beyoncé`` -> ``beyonce``), case-folded,
    bracketed notes removed (``(Live)``, ``[Remastered]``), a trailing featured-artist credit
    removed (``feat. X``, ``ft. X``, ``featuring X``), ``&`` read as ``and``,
    punctuation removed, a leading ``the`` dropped and whitespace collapsed. ``None`` and NaN
    give ``""``.
    """
    if text is None or text != text:  # None or NaN
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = _BRACKETED.sub(" ", plain).replace("&", " and ")
    plain = _FEATURING.sub("", _NOT_WORD.sub(" ", plain.replace("feat.", "feat ")))
    words = plain.split()
    if words[:1] == ["the"] and len(words) > 1:
        words = words[1:]
    return " ".join(words)


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
    keys = {str(t): (normalise(artist), normalise(title)) for t, artist, title in rows}
    return {t: key for t, key in keys.items() if all(key)}


def match_songs(a: pd.DataFrame, b: pd.DataFrame) -> list[tuple[str, str]]:
    """Return the pairs of tracks of ``a`` and ``b`` that are the same song.

    Two tracks match when their normalised artist and normalised title are equal (``normalise``);
    a song present twice in one table pairs with each copy in the other.

    Args:
        a: a track table with ``track_id``, ``artist`` and ``title``.
        b: another one.

    Returns:
        ``(a track_id, b track_id)`` pairs, sorted.
    """
    by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
    for track_id, key in _keys(b).items():
        by_key[key].append(track_id)
    return sorted((t, other) for t, key in _keys(a).items() for other in by_key.get(key, ()))


def near_misses(a: pd.DataFrame, b: pd.DataFrame, *, cutoff: float = NEAR) -> list[NearMiss]:
    """Return pairs that share the artist or the title but not both, and differ only a little.

    A pair is a near miss when one of the normalised artist and title is equal and the other is
    at least ``cutoff`` similar (``difflib.SequenceMatcher`` ratio): typos, a missing word,
    ``Pt. 2`` against ``Part 2``. Exact matches (``match_songs``) are not near misses.

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
    pairs = match_songs(table, other_table)
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
