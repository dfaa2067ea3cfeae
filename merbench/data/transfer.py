"""A transfer pair's tracks and its one fold: train on every track of A, test on those of B
that A does not also hold.

The pair's track table stacks A's tracks and B's (ids and groups prefixed ``<dataset>/`` so the
two never collide), with arousal and valence mapped onto the common range (when both datasets
have them) and a ``quadrant`` column derived on each side from its own scale midpoint (when one
of them has quadrant labels only). Tracks of B that are songs of A (``merbench.data.songs``) are
left out of the test fold; the split's audit names them and says how each was found.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from merbench.data.songs import Fingerprinter, Fingerprints, match_songs, matched_tracks
from merbench.data.splits import Split, _check_fold_variance
from merbench.data.tracks import REGRESSION_TARGETS, Tracks
from merbench.errors import DatasetError
from merbench.evaluation.cv import Fold, manifest, manifest_hash
from merbench.evaluation.tasks import TASK_SPECS, TaskSpec
from merbench.evaluation.transfer import COMMON_SCALE, TRANSFER, pair_name, to_common
from merbench.plugin.specs import LabelScale

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_QUADRANT = TASK_SPECS["quadrant"]


@dataclass(frozen=True, kw_only=True)
class TransferPair:
    """The tracks of a pair (A's, then B's) and which of B's are test tracks."""

    source: str
    target: str
    tracks: Tracks
    n_source: int
    removed: dict[str, str]
    """B's track ids (unprefixed) left out as songs of A, and how each was found."""
    fingerprints: bool
    """Whether audio fingerprints were compared where metadata could not tell."""
    scales: dict[str, tuple[float, float]]

    @property
    def test(self) -> np.ndarray:
        """Rows of the pair's table tested on: B's tracks that are not songs of A."""
        ids = self.tracks.table["track_id"].to_numpy()[self.n_source :]
        prefix = f"{self.target}/"
        kept = [i for i, t in enumerate(ids) if str(t)[len(prefix) :] not in self.removed]
        return self.n_source + np.asarray(kept, dtype=np.int64)


def make_pair(
    source: Tracks, target: Tracks, *, fingerprint: Fingerprinter | bool | None = True
) -> TransferPair:
    """Stack two datasets' tracks on the common label range and find the songs they share.

    Args:
        source: the tracks trained on (A).
        target: the tracks tested on (B).
        fingerprint: ``True``: Chromaprint where installed (``Fingerprints.available``);
            ``False`` or ``None``: metadata only; or a fingerprinter of one's own.
    """
    if fingerprint is True:
        fingerprint = Fingerprints.available()
        if fingerprint is None:
            log.warning(
                "fpcalc is not installed: songs %s and %s share are found by artist and title "
                "only (apt-get install libchromaprint-tools)",
                source.name,
                target.name,
            )
    finder = fingerprint or None
    matches = match_songs(source.table, target.table, fingerprint=finder)
    removed: dict[str, str] = dict(matched_tracks(matches))
    both_av = all(set(REGRESSION_TARGETS) <= set(t.table.columns) for t in (source, target))
    parts = [_part(t, with_av=both_av) for t in (source, target)]
    import pandas as pd

    table = pd.concat(parts, ignore_index=True)
    name = pair_name(source.name, target.name)
    spec = dataclasses.replace(
        source.spec, label_scale=LabelScale(low=COMMON_SCALE[0], high=COMMON_SCALE[1])
    )
    return TransferPair(
        source=source.name,
        target=target.name,
        tracks=Tracks(name=name, spec=spec, table=table, parts=(source, target)),
        n_source=len(source.table),
        removed=removed,
        fingerprints=finder is not None,
        scales={t.name: (t.scale.low, t.scale.high) for t in (source, target)},
    )


def _part(tracks: Tracks, *, with_av: bool) -> pd.DataFrame:
    """One side of a pair's table: prefixed ids and groups, labels on the common range."""
    table = tracks.table
    prefix = f"{tracks.name}/"
    part = table[["track_id", "group", "audio_path"]].astype({"track_id": str, "group": str})
    part = part.assign(
        track_id=prefix + part["track_id"], group=prefix + part["group"], dataset=tracks.name
    )
    if with_av:
        for column in REGRESSION_TARGETS:
            part[column] = to_common(table[column].to_numpy(), tracks.scale.low, tracks.scale.high)
    else:
        part["quadrant"] = tracks.targets(_QUADRANT)
    return part


def make_transfer_split(pair: TransferPair, task: TaskSpec) -> Split:
    """The pair's one fold (repeat 0, fold 0): every track of A trains, B's others test.

    Raises:
        DatasetError: every track of B is a song of A, or B's test labels are constant.
    """
    test = pair.test
    if not len(test):
        raise DatasetError(
            f"transfer {pair.source} -> {pair.target}: every track of '{pair.target}' is also "
            f"in '{pair.source}', so nothing is left to test on. Leave one of them out of the run."
        )
    folds = [Fold(repeat=0, fold=0, train=np.arange(pair.n_source), test=test)]
    if task.is_regression:
        _check_fold_variance(pair.tracks, task, folds)
    ids = pair.tracks.table["track_id"].astype(str).tolist()
    content = manifest(ids, folds) | {"train": [sorted(ids[: pair.n_source])]}
    return Split(
        folds=folds,
        manifest=content,
        digest=manifest_hash(content),
        audit=_audit(pair, task, test),
    )


def _audit(pair: TransferPair, task: TaskSpec, test: np.ndarray) -> dict[str, Any]:
    """What the transfer page shows of a pair: sizes, songs removed, scales, label statistics."""
    table = pair.tracks.table
    train = table.iloc[: pair.n_source]
    audit: dict[str, Any] = {
        "protocol": TRANSFER,
        "source": pair.source,
        "target": pair.target,
        "n_train": pair.n_source,
        "n_tracks": len(test),
        "n_groups": int(table["group"].iloc[test].nunique()),
        "n_removed": len(pair.removed),
        "removed": dict(sorted(pair.removed.items())),
        "fingerprints": pair.fingerprints,
        "scales": {k: list(v) for k, v in pair.scales.items()},
        "groups": dict(
            zip(table["track_id"].iloc[test], table["group"].iloc[test].astype(str), strict=True)
        ),
    }
    if task.is_regression:
        values = train[list(task.targets)].to_numpy(dtype=float)
        audit["train_mean"] = values.mean(axis=0).tolist()
        audit["train_std"] = values.std(axis=0).tolist()
    return audit
