"""Windows: the fixed-length pieces of each track that front-ends and models see.

A track of any length is cut into windows of the budget's clip length: starts ``0, H, 2H, ...``
(``H`` the hop, half a window by default) plus one window ending at the clip's end when the
tail is not covered; a clip shorter than a window gives one zero-padded window. A dataset may cap
the seconds used per track (``max_seconds``). With ``windowing = "single"`` each track has one
window placed by the crop strategy (the centre by default).

Training draws one window of each training track per epoch, seeded by ``(seed, epoch, track)``
on its own stream; the test fold is predicted from every window of a track (early-stopping
checks from its non-overlapping windows, ``Feed.spaced``), averaged into one track prediction
(which torch regression cells rescale: ``merbench.train.calibration``). Window arrays are stored on
disk and read batch by batch (``read_rows``), so a run holds only the small index below and one
batch in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np

Windowing: TypeAlias = Literal["all", "single"]

HOP_FRACTION = 0.5
"""Default hop between window starts, as a fraction of the window length."""
MAX_SECONDS: float | None = None
"""Default cap on the seconds used per track (``None``: the whole clip)."""
WINDOWING: Windowing = "all"
"""Default windowing: every window of the clip (``"single"``: one crop per track)."""
_WINDOW_STREAM = 3  # spawn key of window draws, apart from augmentation seeds


def budget_windowing(budget: Any) -> tuple[float, Windowing]:
    """The hop fraction and windowing of a budget, with this module's defaults."""
    hop = float(getattr(budget, "hop_fraction", HOP_FRACTION))
    single = getattr(budget, "windowing", WINDOWING) == "single"
    windowing: Windowing = "single" if single else "all"
    return hop, windowing


def window_starts(
    length: int, size: int, hop: int, *, windowing: Windowing = "all", centre: bool = True
) -> np.ndarray:
    """The first sample of every window of a clip of ``length`` samples (already capped).

    Args:
        length: the clip's samples.
        size: the window's samples.
        hop: samples between window starts (at least 1).
        windowing: ``"all"`` windows, or a ``"single"`` one.
        centre: where the single window sits: the centre, else the start.

    Returns:
        int64 starts; ``[0]`` for a clip no longer than a window.
    """
    if length <= size:
        return np.zeros(1, dtype=np.int64)
    if windowing == "single":
        return np.array([(length - size) // 2 if centre else 0], dtype=np.int64)
    starts = np.arange(0, length - size + 1, max(int(hop), 1), dtype=np.int64)
    if starts[-1] + size < length:
        starts = np.append(starts, length - size)
    return starts


@dataclass(frozen=True, kw_only=True)
class Windows:
    """The windows of a dataset's tracks, in track order.

    Attributes:
        track: the track row of each window ``[M]``.
        start: the first sample of each window ``[M]``.
        offsets: window rows of track ``i`` are ``offsets[i]:offsets[i + 1]`` ``[N + 1]``.
        size: samples per window.
    """

    track: np.ndarray
    start: np.ndarray
    offsets: np.ndarray
    size: int

    @classmethod
    def build(
        cls,
        lengths: Sequence[int],
        size: int,
        hop: int,
        *,
        windowing: Windowing = "all",
        centre: bool = True,
    ) -> Windows:
        """Cut clips of these (capped) lengths into windows of ``size`` samples."""
        starts = [window_starts(n, size, hop, windowing=windowing, centre=centre) for n in lengths]
        counts = np.array([len(s) for s in starts], dtype=np.int64)
        return cls(
            track=np.repeat(np.arange(len(lengths), dtype=np.int64), counts),
            start=np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64),
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            size=size,
        )

    @classmethod
    def identity(cls, n: int, size: int = 0) -> Windows:
        """One window per track: window row ``i`` is track ``i``."""
        rows = np.arange(n, dtype=np.int64)
        starts = np.zeros(n, dtype=np.int64)
        return cls(track=rows, start=starts, offsets=np.arange(n + 1), size=size)

    def __len__(self) -> int:
        """The number of windows."""
        return len(self.track)

    def counts(self, track_rows: np.ndarray) -> np.ndarray:
        """How many windows each of these tracks has."""
        rows = np.asarray(track_rows, dtype=np.int64)
        return np.asarray(self.offsets[rows + 1] - self.offsets[rows])

    def rows_of(self, track_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every window of these tracks, and the position in ``track_rows`` each belongs to."""
        rows = np.asarray(track_rows, dtype=np.int64)
        counts = self.counts(rows)
        owner = np.repeat(np.arange(len(rows)), counts)
        first = np.repeat(self.offsets[rows], counts)
        within = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
        return first + within, owner

    def spaced_rows_of(self, track_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Like ``rows_of``, keeping only windows that do not overlap the one kept before them.

        From each track's first window on, a window is kept when it starts at least one window
        length after the last kept one: every part of the clip is read at most once (with the
        default hop of half a window, every other window).
        """
        rows, owner = self.rows_of(track_rows)
        keep = np.zeros(len(rows), dtype=bool)
        last_owner, next_start = -1, 0
        for i, (row, who) in enumerate(zip(rows, owner, strict=True)):
            if who != last_owner or self.start[row] >= next_start:
                keep[i] = True
                last_owner, next_start = who, int(self.start[row]) + max(self.size, 1)
        return rows[keep], owner[keep]

    def pick(self, track_rows: np.ndarray, seed: int, epoch: int) -> np.ndarray:
        """One window row per track, drawn with ``SeedSequence((seed, epoch, track))``.

        The draw of a track depends only on the seed, the epoch and the track's row, not on the
        other tracks or their order.
        """
        rows = np.asarray(track_rows, dtype=np.int64)
        counts = self.counts(rows)
        drawn = np.zeros(len(rows), dtype=np.int64)
        for i in np.flatnonzero(counts > 1):
            sequence = np.random.SeedSequence(
                (seed, epoch, int(rows[i])), spawn_key=(_WINDOW_STREAM,)
            )
            drawn[i] = np.random.default_rng(sequence).integers(counts[i])
        return np.asarray(self.offsets[rows] + drawn)


def place_window(
    out: np.ndarray, audio: np.ndarray, start: int, *, scale: float, limit: int | None
) -> None:
    """Copy one window of ``audio`` ``[C, T]`` into ``out`` ``[C, size]``, zero-padded past the
    end or the cap.

    Args:
        out: the window's row of the output (zeros where no audio is copied).
        audio: the track decoded at the rate of ``out``.
        start: the window's first sample at the run's rate (where ``Windows`` placed it).
        scale: the decoded rate over the run's rate (1.0 at the run's rate): a front-end with
            its own rate gets the same window in seconds.
        limit: the seconds cap in samples of the decoded rate, or ``None``.
    """
    first = int(start) if scale == 1.0 else round(int(start) * scale)
    stop = first + out.shape[-1] if limit is None else min(first + out.shape[-1], limit)
    piece = audio[:, first:stop]
    out[:, : piece.shape[-1]] = piece


def aggregate(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """The mean of the rows of ``values`` that belong to each of ``n`` tracks (``owner``)."""
    flat = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    sums = np.zeros((n, flat.shape[1]))
    np.add.at(sums, owner, flat)
    counts = np.bincount(owner, minlength=n).astype(np.float64)
    return (sums / np.maximum(counts, 1.0)[:, None]).reshape(n, *np.shape(values)[1:])


def read_rows(source: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Copy ``source[rows]`` into memory, reading a memory-mapped file in sorted row order.

    A memory-mapped ``.npy`` is opened again for each read and closed after it, so the pages a
    read touched leave the process with the batch: memory stays at one batch, however many
    rows a run reads over its epochs.
    """
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    filename = getattr(source, "filename", None)
    if isinstance(source, np.memmap) and filename is not None:
        fresh: np.ndarray = np.load(filename, mmap_mode="r", allow_pickle=False)
        taken = np.array(fresh[rows[order]])
        del fresh
    else:
        taken = np.array(source[rows[order]])
    out = np.empty_like(taken)
    out[order] = taken
    return out


@dataclass(frozen=True, kw_only=True)
class Feed:
    """The model inputs of some tracks, window by window.

    Attributes:
        sources: one array per model input, indexed by window row (memory-mapped or in memory).
        windows: the windows of the dataset the sources belong to.
        rows: the track rows of this feed, in order.
    """

    sources: Sequence[np.ndarray]
    windows: Windows
    rows: np.ndarray
    spaced: bool = False
    """Read only non-overlapping windows of each track (``Windows.spaced_rows_of``)."""

    @classmethod
    def plain(cls, arrays: Sequence[np.ndarray]) -> Feed:
        """A feed of one window per track, from per-track arrays."""
        n = len(arrays[0]) if arrays else 0
        return cls(sources=list(arrays), windows=Windows.identity(n), rows=np.arange(n))

    def __len__(self) -> int:
        """The number of tracks."""
        return len(self.rows)

    def n_windows(self) -> int:
        """The number of windows of the tracks."""
        return int(self.windows.counts(self.rows).sum())

    def window_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The window rows this feed reads, and the position in ``rows`` each belongs to."""
        if self.spaced:
            return self.windows.spaced_rows_of(self.rows)
        return self.windows.rows_of(self.rows)

    def by_window(self) -> tuple[Feed, np.ndarray]:
        """This feed with every window as a track of its own, and the track of each window.

        Returns:
            A feed whose predictions are one per window ``[M, ...]`` (in ``window_rows`` order),
            and the position in ``rows`` of each window's track ``[M]``.
        """
        rows, owner = self.window_rows()
        each = Windows.identity(len(self.windows), self.windows.size)
        return Feed(sources=self.sources, windows=each, rows=rows), owner

    def read(self, window_rows: np.ndarray) -> list[np.ndarray]:
        """The inputs of these windows, one array per model input."""
        return [read_rows(s, window_rows) for s in self.sources]

    def pooled(self, batch: int = 256) -> list[np.ndarray]:
        """Per track, the mean of its windows' inputs (``[N, ...]`` float64 per input)."""
        window_rows, owner = self.windows.rows_of(self.rows)
        outputs = []
        for source in self.sources:
            total = None
            for at in range(0, len(window_rows), batch):
                part = read_rows(source, window_rows[at : at + batch])
                flat = part.astype(np.float64).reshape(len(part), -1)
                if total is None:
                    total = np.zeros((len(self), flat.shape[1]))
                np.add.at(total, owner[at : at + batch], flat)
            counts = np.maximum(self.windows.counts(self.rows), 1)[:, None]
            shape = source.shape[1:]
            mean = np.zeros((0, *shape)) if total is None else total / counts
            outputs.append(mean.reshape(len(self), *shape))
        return outputs


Inputs: TypeAlias = Sequence[np.ndarray] | Feed
"""Model inputs: one per-track array per input, or a ``Feed`` of windows."""


def as_feed(inputs: Inputs) -> Feed:
    """A ``Feed`` of ``inputs`` (plain arrays become one window per track)."""
    return inputs if isinstance(inputs, Feed) else Feed.plain(inputs)


def per_track(inputs: Inputs) -> list[np.ndarray]:
    """Per-track arrays of ``inputs``: window means of a ``Feed``, plain arrays as they are."""
    return inputs.pooled() if isinstance(inputs, Feed) else list(inputs)
