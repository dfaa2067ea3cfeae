"""Model families: what differs between torch networks and scikit-learn estimators.

A plugin names its model's family (``ModelSpec.family``: ``torch`` or ``sklearn``); the core
looks it up once (``family_of``) and asks the family object, never the name, how the model is
fitted, where it runs, which optimiser settings the core adds, how its window predictions
become a track's and how an exported copy stores its weights. torch is imported only when a
torch model is fitted or placed on a device, never to look a family up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from merbench.errors import PluginError
from merbench.plugin.torch_space import OPTIMISER_DEFAULTS, torch_search_space
from merbench.train.calibration import AGGREGATION
from merbench.train.fit import Fitted, Problem, Trainable, fit_sklearn, pick_device
from merbench.train.timing import phase

if TYPE_CHECKING:
    from merbench.data.windows import Feed
    from merbench.plugin.specs import ModelSpec
    from merbench.space import FloatDistribution


@dataclass(frozen=True, kw_only=True)
class FitRequest:
    """One fit of one configuration: the inputs and what the torch loop needs besides.

    A scikit-learn fit reads only ``model``, ``params``, ``train`` and ``problem``.
    """

    model: ModelSpec
    params: Mapping[str, Any]
    """The model's own parameters (front-end and augmentation keys split off)."""
    train: tuple[Feed, np.ndarray]
    problem: Problem
    seed: int
    trainables: Sequence[Trainable | None]
    valid: tuple[Feed, np.ndarray] | None = None
    epochs: int | None = None
    report: Callable[[int, float], None] | None = None
    augmentation: Any = None
    """How to augment the training batches (``merbench.train.augment.TrainingAugmentation``;
    typed loosely: augmentation policies ask the family whether they apply)."""


class ModelFamily(Protocol):
    """What differs between the models of one family."""

    @property
    def name(self) -> str:
        """The family's name, as plugins write it in ``ModelSpec.family``."""
        ...

    @property
    def network(self) -> bool:
        """Whether its models are torch networks (a run of them imports torch)."""
        ...

    @property
    def augments(self) -> bool:
        """Whether training-time augmentation applies to its models."""
        ...

    @property
    def weight_format(self) -> str:
        """How an exported model's weights are stored (``safetensors`` or ``skops``)."""
        ...

    def device(self) -> str:
        """The device its models are fitted and run on."""
        ...

    def search_space(self) -> dict[str, FloatDistribution]:
        """The keys the core adds to every search space of the family (the optimiser's)."""
        ...

    def optimiser_defaults(self, model: ModelSpec) -> dict[str, Any]:
        """The optimiser settings of the study's first trial: the model's over the core's."""
        ...

    def fit(self, request: FitRequest) -> Fitted:
        """Fit one configuration."""
        ...

    def aggregation(self, is_regression: bool, rescaled: bool) -> str:
        """How a track's prediction is made from its windows, for a cell's record."""
        ...

    def rescales(self, is_regression: bool, windows_per_track: np.ndarray) -> bool:
        """Whether a cell rescales its track predictions (``merbench.train.calibration``)."""
        ...

    def class_score_kind(self, fitted_model: Any) -> str:
        """``probabilities`` or ``decision``: what a fitted classifier's class scores are."""
        ...


@dataclass(frozen=True)
class TorchFamily:
    """Networks the core's loop trains window by window (``merbench.train.loop``)."""

    name: str = "torch"
    network: bool = True
    augments: bool = True
    weight_format: str = "safetensors"

    def device(self) -> str:
        """CUDA when available, else the CPU."""
        return pick_device()

    def search_space(self) -> dict[str, FloatDistribution]:
        """AdamW's learning rate and weight decay."""
        return torch_search_space()

    def optimiser_defaults(self, model: ModelSpec) -> dict[str, Any]:
        """``ModelSpec.optimiser`` over the core's ``OPTIMISER_DEFAULTS``."""
        return OPTIMISER_DEFAULTS | dict(model.optimiser)

    def fit(self, request: FitRequest) -> Fitted:
        """Train with the core's loop (``merbench.train.loop.fit_torch``)."""
        from merbench.train.loop import fit_torch

        return fit_torch(
            request.model,
            request.params,
            request.train,
            request.problem,
            seed=request.seed,
            trainables=request.trainables,
            valid=request.valid,
            epochs=request.epochs,
            report=request.report,
            augmentation=request.augmentation,
        )

    def aggregation(self, is_regression: bool, rescaled: bool) -> str:
        """The mean of the window outputs (rescaled or not), or of the window probabilities."""
        if not is_regression:
            return "mean of window probabilities"
        return AGGREGATION if rescaled else "mean of window outputs"

    def rescales(self, is_regression: bool, windows_per_track: np.ndarray) -> bool:
        """Regression cells whose tracks have more than one window do: their models are trained
        on single windows and predict the mean of many. A class is the argmax of the windows'
        mean probabilities, which a pull towards uniform probabilities does not move."""
        counts = np.asarray(windows_per_track)
        return is_regression and bool((counts > 1).any())

    def class_score_kind(self, fitted_model: Any) -> str:
        """Always probabilities: the softmax of the network's outputs."""
        return "probabilities"


@dataclass(frozen=True)
class SklearnFamily:
    """Estimators fitted on one row per track: the mean of its windows' inputs."""

    name: str = "sklearn"
    network: bool = False
    augments: bool = False
    weight_format: str = "skops"

    def device(self) -> str:
        """The CPU."""
        return "cpu"

    def search_space(self) -> dict[str, FloatDistribution]:
        """Nothing: an estimator sets its own optimiser in ``build``."""
        return {}

    def optimiser_defaults(self, model: ModelSpec) -> dict[str, Any]:
        """``ModelSpec.optimiser`` alone (empty: plugin loading refuses one)."""
        return dict(model.optimiser)

    def fit(self, request: FitRequest) -> Fitted:
        """Fit the estimator (``merbench.train.fit.fit_sklearn``), timed as the phase ``fit``."""
        feed, y = request.train
        with phase("fit"):
            return fit_sklearn(request.model, request.params, feed, y, request.problem)

    def aggregation(self, is_regression: bool, rescaled: bool) -> str:
        """The mean of the window inputs, whatever the task."""
        return "mean of window inputs"

    def rescales(self, is_regression: bool, windows_per_track: np.ndarray) -> bool:
        """Never: the estimator is fitted on the mean of the windows' inputs it predicts from."""
        return False

    def class_score_kind(self, fitted_model: Any) -> str:
        """Probabilities when the estimator has ``predict_proba``, else decision scores."""
        return "probabilities" if hasattr(fitted_model, "predict_proba") else "decision"


TORCH = TorchFamily()
SKLEARN = SklearnFamily()
FAMILIES: Mapping[str, ModelFamily] = {family.name: family for family in (TORCH, SKLEARN)}
"""Every family, by the name plugins write in ``ModelSpec.family``."""


def family_of(model: ModelSpec) -> ModelFamily:
    """The family object of a model.

    Raises:
        PluginError: a family the core does not know, naming the model and the known ones.
    """
    family = FAMILIES.get(model.family)
    if family is None:
        raise PluginError(
            f"model '{model.name}': family {model.family!r} is not one of "
            f"{', '.join(FAMILIES)}. Set ModelSpec.family to one of them."
        )
    return family
