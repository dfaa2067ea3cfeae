"""Songs two datasets share: found by normalised artist and title, else by audio fingerprint.

A model trained on one dataset and tested on another must not be tested on songs it trained on
(the MediaEval sets, DEAM and emoMusic, share most of theirs). ``match_songs`` pairs the tracks
of two track tables that are the same song:

- **by metadata** where both tracks have an artist and a title: each is case-folded, decomposed
  (NFKD, accents dropped), cleared of bracketed parts (``(Live)``, ``[Remastered]``), of
  ``feat.``/``ft.``/``featuring`` and what follows, of punctuation and of a leading "the", and
  compared as ``artist | title`` (``song_key``);
- **by audio fingerprint** where metadata cannot tell (either track lacks an artist or a title):
  Chromaprint's ``fpcalc`` (the Debian package ``libchromaprint-tools``) gives each audio file a
  raw fingerprint, cached per file (``Fingerprints``); two tracks match when the bit error rate of
  their fingerprints, at the best offset of up to ``MAX_OFFSET`` frames, is below
  ``MAX_BIT_ERROR``. Excerpts of the same recording match; other recordings of a song do not.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from merbench.paths import cache_dir, write_atomically

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

MatchMethod = Literal["metadata", "fingerprint"]
MAX_BIT_ERROR = 0.2
"""Fingerprints of one recording differ in a few percent of bits; of two recordings, about half."""
MAX_OFFSET = 40
"""Frames (about 0.12 s each) two fingerprints may be shifted by: excerpts start anywhere."""
MIN_FRAMES = 10
"""The fewest overlapping frames a fingerprint comparison counts (about 1.2 s of audio)."""
FPCALC_SECONDS = 120
"""The audio ``fpcalc`` reads of each file at most."""

_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]|\{[^}]*\}")
_FEATURING = re.compile(r"\b(feat|ft|featuring)\b.*$")
_NOT_WORD = re.compile(r"[^\w]+")


def normalise(text: object) -> str:
    """Return ``text`` as compared: case-folded, NFKD without accents, no bracketed parts
    (unless nothing else is left), no ``feat.`` part, no punctuation, ``&`` as ``and``, one
    space between words (``""``: none)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    value = unicodedata.normalize("NFKD", str(text).casefold())
    value = "".join(c for c in value if not unicodedata.combining(c))
    # "(Live)" goes, but a title that is all brackets, "(Untitled 1)", is kept
    value = (_BRACKETS.sub(" ", value).strip() or value).replace("&", " and ")
    value = _FEATURING.sub(" ", _NOT_WORD.sub(" ", value.replace("_", " ")))
    return " ".join(value.split())


def song_key(artist: object, title: object) -> str | None:
    """``artist | title`` normalised, or ``None`` when either is unknown."""
    who, what = normalise(artist), normalise(title)
    if who.startswith("the "):
        who = who[4:]
    return f"{who} | {what}" if who and what else None


@dataclass(frozen=True, kw_only=True, slots=True)
class SongMatch:
    """Two tracks, one of each table, that are the same song."""

    a: str
    """The track id in the first table."""
    b: str
    """The track id in the second table."""
    method: MatchMethod


Fingerprinter = Callable[[str], np.ndarray | None]
"""An audio path to its raw fingerprint ``[F]`` uint32, or ``None`` when none can be made."""


def match_songs(
    a: pd.DataFrame, b: pd.DataFrame, *, fingerprint: Fingerprinter | None = None
) -> list[SongMatch]:
    """Pair the tracks of ``b`` with the tracks of ``a`` that are the same song.

    Args:
        a: a track table: ``track_id`` and, where known, ``artist``, ``title``, ``audio_path``.
        b: another track table, the same columns.
        fingerprint: makes fingerprints (``Fingerprints``) for the pairs metadata cannot tell;
            ``None`` compares by metadata only.

    Returns:
        Every matching pair, by metadata first; a track of ``b`` may match several of ``a``.
    """
    keys_a, keys_b = _keys(a), _keys(b)
    by_key: dict[str, list[str]] = {}
    for track, key in zip(a["track_id"].astype(str), keys_a, strict=True):
        if key is not None:
            by_key.setdefault(key, []).append(track)
    matches = [
        SongMatch(a=track_a, b=track, method="metadata")
        for track, key in zip(b["track_id"].astype(str), keys_b, strict=True)
        if key is not None
        for track_a in by_key.get(key, [])
    ]
    if fingerprint is not None and "audio_path" in a and "audio_path" in b:
        matches += _fingerprint_matches(a, b, keys_a, keys_b, fingerprint)
    return matches


def _keys(table: pd.DataFrame) -> list[str | None]:
    if "artist" not in table or "title" not in table:
        return [None] * len(table)
    return [song_key(x, y) for x, y in zip(table["artist"], table["title"], strict=True)]


def _fingerprint_matches(
    a: pd.DataFrame,
    b: pd.DataFrame,
    keys_a: list[str | None],
    keys_b: list[str | None],
    fingerprint: Fingerprinter,
) -> list[SongMatch]:
    """Compare by fingerprint every pair where at least one side has no song key."""
    prints_a = [fingerprint(str(p)) for p in a["audio_path"]]
    ids_a = a["track_id"].astype(str).tolist()
    out = []
    rows = zip(b["track_id"].astype(str), b["audio_path"], keys_b, strict=True)
    for track, path, key in rows:
        candidates = [i for i, k in enumerate(keys_a) if key is None or k is None]
        mine = fingerprint(str(path)) if candidates else None
        if mine is None:
            continue
        for i in candidates:
            theirs = prints_a[i]
            if theirs is not None and bit_error(mine, theirs) <= MAX_BIT_ERROR:
                out.append(SongMatch(a=ids_a[i], b=track, method="fingerprint"))
    return out


def bit_error(x: np.ndarray, y: np.ndarray, max_offset: int = MAX_OFFSET) -> float:
    """The smallest share of differing bits of two raw fingerprints over shifts of up to
    ``max_offset`` frames (1.0 when they never overlap by ``MIN_FRAMES``)."""
    best = 1.0
    for shift in range(-max_offset, max_offset + 1):
        left, right = (x[shift:], y) if shift >= 0 else (x, y[-shift:])
        n = min(len(left), len(right))
        if n < MIN_FRAMES:
            continue
        xor = np.bitwise_xor(left[:n], right[:n])
        bits = np.unpackbits(xor.view(np.uint8)).sum()
        best = min(best, float(bits) / (32 * n))
    return best


def fpcalc_path() -> str | None:
    """Where Chromaprint's ``fpcalc`` is, or ``None`` when it is not installed."""
    return shutil.which("fpcalc")


class Fingerprints:
    """Raw Chromaprint fingerprints of audio files, cached per file (path, size, time).

    Calling the object with a path gives the fingerprint ``[F]`` uint32, or ``None`` when
    ``fpcalc`` cannot read the file (a warning names it).
    """

    def __init__(self, executable: str, folder: Path | None = None) -> None:
        self.executable = executable
        self.folder = folder or cache_dir("fingerprints")
        self.computed = 0

    @classmethod
    def available(cls) -> Fingerprints | None:
        """A fingerprinter when ``fpcalc`` is installed, else ``None``."""
        path = fpcalc_path()
        return cls(path) if path else None

    def __call__(self, path: str) -> np.ndarray | None:
        file = Path(path)
        if not file.is_file():
            return None
        stat = file.stat()
        content = [str(file.resolve()), stat.st_size, stat.st_mtime_ns, FPCALC_SECONDS]
        digest = hashlib.sha256(json.dumps(content).encode()).hexdigest()[:24]
        entry = self.folder / f"{digest}.npy"
        if entry.is_file():
            return _or_none(np.load(entry))
        values = self._compute(file)
        buffer = io.BytesIO()
        np.save(buffer, values)
        write_atomically(entry, buffer.getvalue())
        return _or_none(values)

    def _compute(self, file: Path) -> np.ndarray:
        # fpcalc reports the end of some files as a decoding error (and exits 1) after printing
        # the whole fingerprint: its output decides, not its exit status
        command = [self.executable, "-raw", "-json", "-ignore-errors"]
        command += ["-length", str(FPCALC_SECONDS), str(file)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        self.computed += 1
        try:
            values = json.loads(done.stdout).get("fingerprint") or []
        except ValueError:
            values = []
        if not values:
            log.warning("%s: fpcalc could not read it (%s)", file, done.stderr.strip()[:200])
        return np.asarray(values, dtype=np.int64).astype(np.uint32)


def _or_none(values: np.ndarray) -> np.ndarray | None:
    return values if len(values) else None


def matched_tracks(matches: Iterable[SongMatch]) -> dict[str, MatchMethod]:
    """The tracks of the second table that match a song of the first, and how (metadata
    first)."""
    out: dict[str, MatchMethod] = {}
    for match in matches:
        if out.get(match.b) != "metadata":
            out[match.b] = match.method
    return out
