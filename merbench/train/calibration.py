"""Rescaling of whole-clip regression predictions: undo the shrinkage of averaging windows.

A torch model learns from one window of a track at a time and predicts a track by the mean of
its windows' outputs (``merbench.data.windows``). Where the emotion sits in a few windows of a clip,
the other windows predict close to the training mean, and the mean of the windows shrinks the
track's prediction towards it: the ranking of the tracks survives, their scale does not, and
R2 stays near 0 however right the ranking. Where the emotion is stationary, windows are noisy
views of one value and their mean is slightly under-dispersed for the same reason: each
window's output is shrunk towards the training mean as far as one view's evidence warrants,
and averaging them does not add their evidence up.

Per target, measured from the fit's training mean ``c`` (outputs ``x = y_pred - c``):

- **How much averaging shrank** is ``s``, the mean square of the window outputs over the mean
  square of their tracks' means (window by window, on the validation tracks; 1 when every track
  has one window or its windows agree). It needs no labels, and it does not change when a
  model's outputs grow or shrink as a whole, so it carries from a trial to the refit. For windows
  that are exchangeable noisy views of the label, each predicted by its conditional mean,
  ``c + s (mean - c)`` is the conditional mean given all the windows (the Gaussian case).
- **How much the labels confirm** is ``b``, the calibration slope of prediction models (Cox
  1958; Van Houwelingen and Le Cessie 1990): the least-squares slope of the validation tracks'
  labels on their whole-clip outputs, about ``c`` (no intercept: the shrinkage acts about the
  training mean, and a shift fitted on the validation artists would not carry to others). It is
  shrunk towards 1 by a ridge penalty on ``b - 1`` whose strength leave-one-out cross-validation
  over the validation tracks picks (``sklearn.linear_model.RidgeCV``), and not fitted at all
  from fewer than ``MIN_TRACKS`` tracks.

A track is predicted ``c + min(max(b, 1), s) (mean - c)``: the rescaling only undoes shrinkage
that averaging caused and the labels confirm. It never shrinks predictions (a model's own
over- or under-confidence is not the windows' doing, and a slope fitted on one trial's model
does not carry to a refit trained longer on more tracks) and never stretches them further
than averaging shrank them (noisy windows averaged into the mean are not blown up again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from merbench.data.windows import aggregate

MIN_TRACKS = 8
"""Fewest validation tracks from which a slope is fitted (fewer: the plain mean, slope 1)."""
PENALTIES = np.logspace(-2, 3, 11)
"""Ridge penalties on ``b - 1`` that leave-one-out chooses from, relative to the outputs' sum of
squares about the training mean: 0.01 keeps the least-squares slope, 1000 keeps ``b = 1``."""
AGGREGATION = "mean of window outputs, rescaled on validation"
"""How a rescaled track prediction is described in a cell's ``info["aggregation"]``.

Which cells rescale is their model family's to say (``merbench.train.family``: torch regression
cells whose tracks have more than one window)."""


@dataclass(frozen=True, kw_only=True)
class Rescaling:
    """The validation tracks of one fit, and how their window outputs become track predictions.

    Attributes:
        y_true: the validation tracks' labels ``[N, D]``.
        owner: the validation track (position in ``y_true``) of each window ``[M]``.
        centre: the training mean of the fit ``[D]``.
    """

    y_true: np.ndarray
    owner: np.ndarray
    centre: np.ndarray

    def fit(self, window_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fit the slopes on the validation tracks' window outputs ``[M, D]``.

        Returns:
            The slopes ``[D]``, and the validation tracks' rescaled predictions ``[N, D]``, each
            track by the slopes fitted without its label (leave-one-out): their score is an
            honest estimate of the rescaled prediction's, the value of the trial.
        """
        truth = np.asarray(self.y_true, dtype=np.float64).reshape(len(self.y_true), -1)
        x_window = np.asarray(window_pred, dtype=np.float64).reshape(len(window_pred), -1)
        x_window = x_window - self.centre
        x_track = aggregate(x_window, self.owner, len(truth))
        caps = shrinkage(x_window, x_track[self.owner])
        slopes = np.ones(truth.shape[1])
        validated = x_track.copy()
        for d in range(truth.shape[1]):
            target, x = truth[:, d] - self.centre[d], x_track[:, d]
            slope, left_out = _slope(target, x)
            slopes[d] = min(max(slope, 1.0), caps[d])
            validated[:, d] = np.clip(left_out, 1.0, caps[d]) * x
        return slopes, validated + self.centre


def shrinkage(x_window: np.ndarray, x_mean: np.ndarray) -> np.ndarray:
    """Per target, how much averaging shrank the outputs: ``s`` in the module's notes.

    Args:
        x_window: window outputs about the training mean ``[M, D]``.
        x_mean: the mean of each window's track, window by window ``[M, D]``.

    Returns:
        ``sum(x_window ** 2) / sum(x_mean ** 2)`` per target, at least 1 (1 when the means are
        all at the training mean).
    """
    total = np.square(x_window).sum(axis=0)
    between = np.square(x_mean).sum(axis=0)
    ratio = np.divide(total, between, out=np.ones_like(total), where=between > 1e-12 * total)
    return np.asarray(np.maximum(ratio, 1.0))


def _slope(target: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray]:
    """The shrunk slope of ``target`` on ``x`` (both about the centre), and each track's slope
    fitted without it ``[N]``; 1 where too few tracks or outputs on the centre leave none."""
    spread = float(x @ x)
    if len(x) < MIN_TRACKS or spread <= 1e-12 * float(target @ target):
        return 1.0, np.ones(len(x))
    from sklearn.linear_model import RidgeCV

    alphas = spread * PENALTIES
    ridge = RidgeCV(
        alphas=alphas, fit_intercept=False, scoring="neg_mean_squared_error", store_cv_results=True
    )
    ridge.fit(x[:, None], target - x)  # the penalty pulls b - 1, the coefficient, to 0
    chosen = int(np.argmin(np.abs(alphas - ridge.alpha_)))
    left_out = ridge.cv_results_[:, chosen]  # each track's (b - 1) x, fitted without it
    nonzero = np.abs(x) > 0
    slopes = np.ones(len(x))
    slopes[nonzero] = 1.0 + left_out[nonzero] / x[nonzero]
    return 1.0 + float(ridge.coef_[0]), slopes


def rescale(y_pred: np.ndarray, slopes: Sequence[float] | None, centre: np.ndarray) -> np.ndarray:
    """Rescale track predictions ``[N, D]`` about the fit's training mean ``centre`` ``[D]``.

    Args:
        y_pred: whole-clip predictions (the plain mean) of the fit whose training mean is
            ``centre``.
        slopes: per target, the slopes of the best trial (``Rescaling.fit``), carried to the
            refit; ``None`` (a study without them) leaves the predictions as they are.
        centre: the training mean of the fit that predicted ``y_pred``.
    """
    if slopes is None:
        return np.asarray(y_pred)
    factor = np.asarray(slopes, dtype=np.float64)
    middle = np.asarray(centre, dtype=np.float64)
    return np.asarray(middle + factor * (np.asarray(y_pred, dtype=np.float64) - middle))
