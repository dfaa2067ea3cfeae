"""The transfer matrix from stored rows: diagonal, drop with its interval, tiers per column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from merbench.results.transfer import transfer_matrix

TARGETS = ("arousal", "valence")


def _rows(dataset, split, candidate, ids, truth, pred, repeat_folds=None):
    rows = []
    for i, track in enumerate(ids):
        fold = 0 if repeat_folds is None else repeat_folds[i]
        for d, target in enumerate(TARGETS):
            rows.append(
                {
                    "dataset": dataset, "task": "av-regression", "candidate": candidate,
                    "repeat": 0, "fold": fold, "split": split, "track_id": track,
                    "target": target, "y_true": truth[i, d], "y_pred": pred[i, d],
                }
            )  # fmt: skip
    return rows


def _world():
    """B's 60 tracks on 1..9 by 12 artists; A trained on -1..1; one song of B removed."""
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(60)]
    common = rng.uniform(-1, 1, (60, 2))
    own = common + rng.normal(0, 0.2, common.shape)  # in-domain: close
    moved = 0.3 * common + rng.normal(0, 0.5, common.shape)  # transferred: worse
    on_b = 5 + 4 * common  # B's own scale
    predictions = _rows("b", "grouped", "m", ids, on_b, 5 + 4 * own, [i % 3 for i in range(60)])
    predictions += _rows("a>b", "transfer", "m", [f"b/{t}" for t in ids[1:]], common[1:], moved[1:])
    cells = pd.DataFrame(
        [
            {"dataset": "b", "task": "av-regression", "candidate": "m", "repeat": 0, "fold": f,
             "split": "grouped", "status": "done"}
            for f in range(3)
        ]
        + [{"dataset": "a>b", "task": "av-regression", "candidate": "m", "repeat": 0, "fold": 0,
            "split": "transfer", "status": "done"}]
    )  # fmt: skip
    groups = {t: f"artist {i % 12}" for i, t in enumerate(ids)}
    audits = {
        ("b", "av-regression"): {"protocol": "grouped", "groups": groups},
        ("a>b", "av-regression"): {
            "protocol": "transfer", "source": "a", "target": "b", "n_removed": 1,
            "removed": {"s0": "metadata"}, "fingerprints": True,
            "scales": {"a": [-1.0, 1.0], "b": [1.0, 9.0]},
            "train_mean": [0.0, 0.0], "train_std": [0.58, 0.58],
        },
    }  # fmt: skip
    return cells, pd.DataFrame(predictions), audits


def test_matrix_has_the_diagonal_on_the_common_range_and_the_drop_with_its_interval():
    cells, predictions, audits = _world()
    matrix = transfer_matrix(cells, predictions, audits)
    rows = {(r["source"], r["target"]): r for r in matrix.to_dict("records")}
    assert set(rows) == {("b", "b"), ("a", "b")}
    own, moved = rows[("b", "b")], rows[("a", "b")]
    assert own["is_diagonal"] and own["n_test"] == 60 and own["n_removed"] == 0
    assert moved["n_test"] == 59 and moved["n_removed"] == 1
    assert own["ccc_mean"] > 0.8 > moved["ccc_mean"]
    assert 0 < moved["drop_low"] < moved["drop"] < moved["drop_high"]
    assert moved["drop_groups"] == 12  # resampled over B's artists
    # the drop is measured on the 59 tracks both predicted, not against the 60-track score
    assert moved["drop"] != pytest.approx(own["ccc_mean"] - moved["ccc_mean"], abs=1e-9)
    assert own["tier"] == 1 and own["is_column_best"] and moved["tier"] == 2


def test_matrix_is_empty_without_transfer_cells():
    cells, predictions, audits = _world()
    assert transfer_matrix(cells[cells["split"] == "grouped"], predictions, audits).empty
