"""The frozen records that plugins yield from their hooks, and the shapes the core passes them.

Plugins *describe* pieces with these records; the core composes them. Every record is a frozen,
keyword-only dataclass whose first field is ``name``. The registry fills ``provenance``; plugins
never set it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from merbench.plugin.lazy import Builder, resolve

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

    from merbench.space import Distribution

InputKind = Literal["waveform", "spectrogram", "sequence", "vector"]
"""What a front-end produces and a model accepts: ``waveform`` [B, C, T], ``spectrogram``
[B, C, F, T], ``sequence`` [B, T, D], ``vector`` [B, D]."""

Task = Literal["av-regression", "quadrant", "arousal-binary", "valence-binary", "mood-tags"]
Family = Literal["torch", "sklearn"]
Stage = Literal["waveform", "spectrogram", "batch"]
LabelEffect = Literal["preserve", "mix"]
AugmentMode = Literal["on-the-fly", "pre-rendered"]
RunAugmentMode = Literal["auto", "on-the-fly", "pre-rendered"]
Kind = Literal["dataset", "frontend", "augmentation", "model"]
SplitProtocol = Literal["grouped", "random", "official", "unknown"]
"""How a published result's test tracks were chosen: ``grouped`` (artist-exclusive folds, as
merbench's), ``random`` (tracks shuffled, an artist on both sides), ``official`` (the dataset's
own split) or ``unknown``."""

INPUT_KINDS: tuple[str, ...] = get_args(InputKind)
TASKS: tuple[str, ...] = get_args(Task)
KINDS: tuple[str, ...] = get_args(Kind)
RUN_AUGMENT_MODES: tuple[str, ...] = get_args(RunAugmentMode)
SPLIT_PROTOCOLS: tuple[str, ...] = get_args(SplitProtocol)
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,31}$")

SearchSpace = Mapping[str, "Distribution | BaseDistribution"]
"""Parameter name -> distribution: ``merbench.space``'s (no Optuna import) or Optuna's."""
Suggest = Callable[["optuna.Trial"], dict[str, Any]]


def _owner(kind: str, name: str, provenance: Provenance | None) -> str:
    """Who declared a record, for errors: the plugin (once the registry has filled it in)."""
    if provenance is None:
        return f"{kind.capitalize()} '{name}'"
    plugin = f"Plugin '{provenance.entry_point}' ({provenance.distribution} {provenance.version})"
    return f"{plugin.replace(' )', ')')}, {kind} '{name}'"


@dataclass(frozen=True, kw_only=True, slots=True)
class InputShape:
    """The shape of one model input, without the batch axis.

    Attributes:
        kind: the input kind.
        shape: ``(C, T)`` for waveforms, ``(C, F, T)`` for spectrograms, ``(T, D)`` for sequences,
            ``(D,)`` for vectors.
    """

    kind: InputKind
    shape: tuple[int, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Provenance:
    """Where a record came from: filled in by the registry, shown on leaderboards."""

    entry_point: str
    module: str
    distribution: str
    version: str
    first_party: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class LabelScale:
    """The range of a dataset's continuous labels, e.g. ``LabelScale(low=1, high=9)``."""

    low: float
    high: float

    @property
    def midpoint(self) -> float:
        """The value that splits high from low arousal or valence."""
        return (self.low + self.high) / 2


@dataclass(frozen=True, kw_only=True, slots=True)
class PublishedResult:
    """A published result on a dataset, shown on its leaderboard page beside merbench's scores.

    Attributes:
        task: the merbench task the result corresponds to, e.g. ``"av-regression"``.
        metric: what was measured, as the paper reports it, e.g. ``"RMSE (arousal)"``.
        score: the reported value, on the paper's scale (``0.764`` for an F1 of 76.4 %).
        protocol: how the test tracks were chosen; only ``grouped`` (artist-exclusive) results
            are comparable with merbench's grouped scores.
        model: the model and features, e.g. ``"SVR (RBF) on 6,373 openSMILE features"``.
        source: the citation: authors, year, venue, and table or figure.
        note: anything a reader needs to compare, e.g. ``"11-fold cross-validation"``.
    """

    task: Task
    metric: str
    score: float
    protocol: SplitProtocol
    model: str
    source: str
    note: str = ""


SourceKind = Literal["files", "zenodo", "hub", "manual"]
"""Where a dataset's files come from: ``files`` (plain HTTP(S) URLs), ``zenodo`` (a Zenodo
record, its files and md5 digests read from Zenodo's API at download time), ``hub`` (a Hugging
Face Hub dataset repository) or ``manual`` (printed steps: no programmatic source)."""
SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)
CHECKSUM_PATTERN = re.compile(r"^(sha256:[0-9a-f]{64}|md5:[0-9a-f]{32})$")


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceFile:
    """One file of a dataset's source.

    Attributes:
        url: the file's ``https://`` (or ``http://``) URL; for a ``zenodo`` source, the file's
            key in the record (``"MERGE_Audio_Complete.zip"``).
        name: the name it is saved as (default: the URL's last path segment).
        checksum: ``"sha256:<hex>"`` or ``"md5:<hex>"``; ``""`` where the source publishes
            none (merbench then records the sha256 of what it fetched, so a later download
            notices a change).
        size: its size in bytes, where known (checked against the server's).
        unpack: for an archive (``.zip``, ``.tar``, ``.tar.gz``, ``.tgz``), the folder (relative
            to the download folder, ``""`` for the folder itself) to unpack it into; the
            archive is removed once unpacked. ``None`` keeps the file as it is.
        folder: the folder (relative to the download folder) a kept file is saved in.
    """

    url: str
    name: str = ""
    checksum: str = ""
    size: int | None = None
    unpack: str | None = None
    folder: str = ""

    @property
    def filename(self) -> str:
        """The name the file is saved as."""
        return self.name or self.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


@dataclass(frozen=True, kw_only=True, slots=True)
class DataSource:
    """Where a dataset's files come from, and under which licence.

    Plugins *describe* the source; ``merbench download NAME`` fetches it (resuming, checking
    digests, unpacking safely), prints the ``[datasets.NAME]`` table and runs ``verify``.

    Attributes:
        kind: ``files``, ``zenodo``, ``hub`` or ``manual`` (see ``SourceKind``).
        license: the licence's name, printed before anything is fetched.
        license_url: where the licence (or the dataset's terms) can be read.
        consent: whether the licence asks for the user's consent: ``merbench download``
            refuses without ``--accept-licence``.
        files: the files to fetch (``files``), or the record's files to fetch (``zenodo``;
            empty: all of them), or the archives among a Hub snapshot to unpack (``hub``).
        record: the Zenodo record id (``"13939205"``) or the Hub repository (``"org/name"``).
        revision: the Hub revision (a commit, for reproducible downloads).
        allow_patterns: the Hub files to fetch (glob patterns; empty: all).
        root: the folder, relative to the download folder, that ``path`` in ``datasets.toml``
            points at (the folder the plugin's ``load`` reads).
        size: the download's size for people, e.g. ``"1.4 GB"``.
        steps: the steps to print where nothing can be fetched programmatically (``manual``),
            or what to do after a download.
        options: the dataset options the download needs in its ``datasets.toml`` table.
        variants: other ways to fetch the same dataset, by name (e.g. ``"full"`` for full-quality
            audio): ``merbench download NAME --variant full`` fetches that source instead.
    """

    kind: SourceKind
    license: str
    license_url: str = ""
    consent: bool = False
    files: tuple[SourceFile, ...] = ()
    record: str = ""
    revision: str = ""
    allow_patterns: tuple[str, ...] = ()
    root: str = ""
    size: str = ""
    steps: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    variants: Mapping[str, DataSource] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class DatasetSpec:
    """A dataset: where tracks come from and what can be asked of them.

    ``load(root, **options)`` returns a DataFrame with the columns ``track_id``, ``group`` (artist,
    album or track, for grouped splits), ``audio_path`` and the label columns (``arousal`` and
    ``valence`` on ``label_scale``, and/or ``quadrant`` as ``1..4``). Where the source names them,
    the optional ``artist`` and ``title`` columns (text, empty where unknown) let the transfer
    protocol find songs two datasets share (``merbench.data.songs``); without them it compares
    audio fingerprints. ``root`` is ``None`` when
    ``requires_path`` is false (a generated dataset). ``verify(root, **options)`` returns a list of
    human-readable problems with a local copy (empty when the copy is usable). ``literature``
    lists published results on the dataset, shown on its leaderboard page. ``source`` says
    where its files come from (a ``DataSource``), for ``merbench download``.
    ``label_tasks(**options)`` returns the tasks a copy's labels give with these options (for a
    plugin whose label columns are options, such as ``folder``), a subset of ``tasks``; without
    it, every one of ``tasks``.
    """

    name: str
    load: Builder
    tasks: tuple[Task, ...]
    label_scale: LabelScale | None = None
    verify: Callable[..., list[str]] | str | None = None
    label_tasks: Callable[..., Sequence[Task]] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    requires_path: bool = True
    version: str = ""
    citation: str = ""
    license: str = ""
    homepage: str = ""
    summary: str = ""
    literature: tuple[PublishedResult, ...] = ()
    source: DataSource | None = None
    provenance: Provenance | None = None

    @property
    def loader(self) -> Callable[..., Any]:
        """``load``, imported on first use when given as ``"module:attribute"``."""
        return resolve(self.load, owner=_owner("dataset", self.name, self.provenance), field="load")

    @property
    def verifier(self) -> Callable[..., list[str]] | None:
        """``verify`` (``None`` when absent), imported on first use when given as a string."""
        if self.verify is None:
            return None
        owner = _owner("dataset", self.name, self.provenance)
        return resolve(self.verify, owner=owner, field="verify")

    def tasks_with(self, options: Mapping[str, Any]) -> tuple[Task, ...]:
        """The tasks of ``tasks`` that a copy's labels give with ``options``, in that order."""
        if self.label_tasks is None:
            return self.tasks
        given = set(self.label_tasks(**options))
        return tuple(task for task in self.tasks if task in given)


@dataclass(frozen=True, kw_only=True, slots=True)
class FrontEndSpec:
    """A transform from waveforms ``[B, C, T]`` to a representation of kind ``output``.

    ``build(sample_rate, **params)`` returns a callable (usually a ``torch.nn.Module``) mapping a
    float32 waveform tensor ``[B, C, T]`` to the output kind. Fixed front-ends
    (``trainable=False``) are computed once per dataset and parameters and cached by the core.

    ``sample_rate`` (Hz) is the rate a fixed front-end needs (a pretrained encoder's): the core
    decodes its windows at that rate (the same windows, in seconds, as the run's) and builds it
    with that rate; ``None`` takes the run's rate. Where the core runs a fixed front-end in the
    model graph (augmented training batches), it builds it with the run's rate, so ``build``
    must accept any rate. ``describe()`` returns what the output depends on beyond the
    parameters (pretrained weights: model id, revision, sha256 of the weight files): part of
    the feature cache key, and written beside the cached features.
    """

    name: str
    output: InputKind
    build: Builder
    trainable: bool = False
    search_space: SearchSpace = field(default_factory=dict)
    suggest: Suggest | None = None
    sample_rate: int | None = None
    describe: Callable[[], Mapping[str, Any]] | None = None
    summary: str = ""
    provenance: Provenance | None = None

    @property
    def builder(self) -> Callable[..., Any]:
        """``build``, imported on first use when given as ``"module:attribute"``."""
        return resolve(self.build, owner=_owner("frontend", self.name, self.provenance))


@dataclass(frozen=True, kw_only=True, slots=True)
class AugmentationSpec:
    """A training-time transform at one stage, and what it does to labels.

    ``build(sample_rate, **params)`` returns a callable ``f(..., rng)`` that draws its randomness
    from ``rng`` (a numpy ``Generator``) or from the global generators, which the core seeds
    per call and restores afterwards:

    - ``waveform``: ``f(x, rng) -> x`` on one example, a float32 numpy array ``[C, T]`` in and
      ``[C, T']`` out (every example of one call site gives the same ``T'``);
    - ``spectrogram``: ``f(x, rng) -> x`` on one example, a torch tensor ``[C, F, T]``; with
      ``batched=True``, ``f(xs, rngs) -> xs`` on the whole batch ``[B, C, F, T]`` with one
      generator per example, example ``b`` drawing only from ``rngs[b]`` (an example's output
      must not depend on the batch it is in: the contract kit checks it);
    - ``batch``: ``f(xs, y, rng) -> (xs, y)`` on a list of model-input tensors ``[B, ...]`` and
      float targets ``[B, D]`` (standardised regression targets, or one-hot class labels).

    ``mode`` says how the core applies a ``waveform`` transform by default: ``on-the-fly``
    (fresh every epoch) or ``pre-rendered`` (a few copies per clip rendered once per seed and
    cached: for transforms too slow to run every epoch). ``merbench run --augment-mode``
    overrides it for a run.
    """

    name: str
    stage: Stage
    labels: LabelEffect
    build: Builder
    mode: AugmentMode = "on-the-fly"
    batched: bool = False
    search_space: SearchSpace = field(default_factory=dict)
    suggest: Suggest | None = None
    summary: str = ""
    provenance: Provenance | None = None

    @property
    def builder(self) -> Callable[..., Any]:
        """``build``, imported on first use when given as ``"module:attribute"``."""
        return resolve(self.build, owner=_owner("augmentation", self.name, self.provenance))


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelSpec:
    """A model: which inputs it accepts, how to build it, and what to tune.

    Torch models: ``build(inputs: tuple[InputShape, ...], n_outputs, **params) -> nn.Module`` whose
    ``forward(*xs)`` takes the inputs in ``accepts`` order and returns ``[B, n_outputs]``; a
    ``build`` that names ``sample_rate`` (Hz) or ``window_seconds`` (the budget's window) as
    parameters also receives them. ``optimiser`` gives the model's own AdamW ``lr`` and
    ``weight_decay`` (within the tuned ranges): the first trial's values, and the values used when
    a fit gets none. Scikit-learn models: ``build(**params)`` returns an unfitted estimator; the
    core picks a regressor or classifier through ``task`` when the builder accepts a ``task``
    keyword. ``trusted_types`` names (``module.Class``) the types a fitted estimator holds beyond
    the built-in scikit-learn candidates' (``merbench.exchange.bundle.TRUSTED_TYPES``), so that
    ``merbench export`` can write it as skops and ``merbench predict`` load it; the list comes
    from the installed plugin, never from the file.
    """

    name: str
    accepts: tuple[InputKind, ...]
    build: Builder
    family: Family = "torch"
    search_space: SearchSpace = field(default_factory=dict)
    suggest: Suggest | None = None
    default_frontends: tuple[str, ...] = ()
    default_augmentations: tuple[str, ...] = ()
    optimiser: Mapping[str, float] = field(default_factory=dict)
    trusted_types: tuple[str, ...] = ()
    tasks: tuple[Task, ...] = TASKS  # type: ignore[assignment]
    is_baseline: bool = False
    summary: str = ""
    provenance: Provenance | None = None

    @property
    def builder(self) -> Callable[..., Any]:
        """``build``, imported on first use when given as ``"module:attribute"``."""
        return resolve(self.build, owner=_owner("model", self.name, self.provenance))


Spec = DatasetSpec | FrontEndSpec | AugmentationSpec | ModelSpec

SPEC_TYPES: dict[str, type[Any]] = {
    "dataset": DatasetSpec,
    "frontend": FrontEndSpec,
    "augmentation": AugmentationSpec,
    "model": ModelSpec,
}
