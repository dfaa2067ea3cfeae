"""The four hooks a merbench plugin can implement, one per plugin kind.

A plugin is a module registered under the ``merbench`` entry-point group that sets
``MERBENCH_PLUGIN_API = 1`` and implements one or more of these hooks with ``@merbench.hookimpl``.
Hooks take no arguments: they *declare* pieces, they do not act. Each yields frozen records
(``merbench.plugin.specs``); the core validates them, names their provider and composes them into
runs.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from merbench.plugin.specs import AugmentationSpec, DatasetSpec, FrontEndSpec, ModelSpec

PROJECT = "merbench"
PLUGIN_API = 1
"""The plugin-API version this merbench implements (see ``docs/plugins.md``, "Versioning")."""
SUPPORTED_PLUGIN_APIS: frozenset[int] = frozenset({1})

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def merbench_datasets() -> Iterable[DatasetSpec]:
    """Yield the datasets this plugin provides.

    Called once per process, in no particular order; names must be unique across plugins.
    A dataset that can be fetched declares where from with ``source=merbench.DataSource(...)``
    (URLs with their checksums, a Zenodo record, a Hugging Face Hub dataset, or printed steps;
    its licence and whether it asks for consent): ``merbench download NAME`` then fetches it.

    Example::

        import pandas as pd
        import merbench

        MERBENCH_PLUGIN_API = 1

        def load(root, *, min_seconds=5.0):
            table = pd.read_csv(root / "labels.csv")
            return table.assign(audio_path=[str(root / "audio" / f) for f in table.file])

        @merbench.hookimpl
        def merbench_datasets():
            yield merbench.DatasetSpec(
                name="mylabels",
                load=load,
                tasks=("av-regression",),
                label_scale=merbench.LabelScale(low=1, high=9),
                options={"min_seconds": 5.0},
                citation="Me et al. (2026). My labels.",
                source=merbench.DataSource(
                    kind="zenodo", record="1234567", license="CC BY 4.0"
                ),
            )
    """
    yield from ()


@hookspec
def merbench_frontends() -> Iterable[FrontEndSpec]:
    """Yield the front-ends this plugin provides.

    A front-end maps waveforms ``[B, C, T]`` to its declared output kind.

    Example::

        import torch
        import merbench

        MERBENCH_PLUGIN_API = 1

        class Energy(torch.nn.Module):
            def forward(self, x):  # [B, C, T] -> [B, 1]
                return x.pow(2).mean(dim=(1, 2)).unsqueeze(1)

        @merbench.hookimpl
        def merbench_frontends():
            yield merbench.FrontEndSpec(
                name="energy", output="vector", build=lambda sample_rate: Energy()
            )
    """
    yield from ()


@hookspec
def merbench_augmentations() -> Iterable[AugmentationSpec]:
    """Yield the training-time augmentations this plugin provides.

    Example::

        import merbench

        MERBENCH_PLUGIN_API = 1

        def build(sample_rate, *, db=3.0):
            def gain(x, rng):  # one example [C, T] -> [C, T]
                return x * 10 ** (rng.uniform(-db, db) / 20)
            return gain

        @merbench.hookimpl
        def merbench_augmentations():
            yield merbench.AugmentationSpec(
                name="gain", stage="waveform", labels="preserve", build=build
            )
    """
    yield from ()


@hookspec
def merbench_models() -> Iterable[ModelSpec]:
    """Yield the models this plugin provides.

    Example (a complete plugin module; see ``docs/plugins.md``)::

        from optuna.distributions import FloatDistribution
        import merbench

        MERBENCH_PLUGIN_API = 1

        def build(*, alpha=1.0):
            from sklearn.linear_model import Lasso
            return Lasso(alpha=alpha)

        @merbench.hookimpl
        def merbench_models():
            yield merbench.ModelSpec(
                name="lasso",
                accepts=("vector",),
                family="sklearn",
                build=build,
                search_space={"alpha": FloatDistribution(1e-4, 10.0, log=True)},
                default_frontends=("handcrafted",),
                tasks=("av-regression",),
            )
    """
    yield from ()


HOOKS: dict[str, str] = {
    "merbench_datasets": "dataset",
    "merbench_frontends": "frontend",
    "merbench_augmentations": "augmentation",
    "merbench_models": "model",
}
"""Hook name -> the plugin kind whose records it yields."""
