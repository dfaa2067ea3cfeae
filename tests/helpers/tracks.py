"""Tracks of given lengths written as WAV files, and a cell whose model records what it sees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import soundfile
import torch

import merbench
from merbench.data.tracks import Tracks
from merbench.evaluation.budgets import BUDGETS
from merbench.evaluation.cv import Fold
from merbench.evaluation.tasks import get_task
from merbench.pipeline.candidates import parse_candidate
from merbench.pipeline.cell import CellPlan
from merbench.results.schema import CellKey
from merbench.train.fit import Problem

RATE = 8000
"""The sample rate of the written tracks."""


def _write_tracks(folder, lengths):
    """Noise tracks of ``lengths`` seconds in ``folder``, each its own group, labels 1, 2, ..."""
    rows = []
    rng = np.random.default_rng(0)
    for i, seconds in enumerate(lengths):
        path = folder / f"t{i}.wav"
        soundfile.write(path, rng.normal(0, 0.1, int(seconds * RATE)).astype(np.float32), RATE)
        value = 1.0 + i
        rows.append(dict(track_id=f"t{i}", group=f"g{i}", audio_path=str(path), arousal=value,
                         valence=value))  # fmt: skip
    spec = merbench.DatasetSpec(name="long", load=lambda root: None, tasks=("av-regression",))
    return Tracks(name="long", spec=spec, table=pd.DataFrame(rows))


def _spy_model(seen):
    """A torch model on waveforms that appends each training batch's first samples to ``seen``."""

    def build(inputs, n_outputs):
        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.out = torch.nn.Linear(1, n_outputs)

            def forward(self, x):
                if self.training:
                    seen.append(x[:, 0, 0].detach().numpy().copy())
                return self.out(x[:, :, :1].mean(dim=(1, 2))[:, None])

        return Net()

    return merbench.ModelSpec(name="spy", accepts=("waveform",), build=build)


def _spy_plan(tracks, model):
    """The plan of a cell that trains ``model`` on raw waveforms: tracks 0-3 train, 4-5 test."""
    fold = Fold(repeat=0, fold=0, train=np.arange(4), test=np.arange(4, 6))
    return CellPlan(
        key=CellKey(dataset="long", task="av-regression", candidate="spy@raw", repeat=0, fold=0),
        tracks=tracks, candidate=parse_candidate("spy@raw"), model=model,
        frontends=(merbench.FrontEndSpec(name="raw", output="waveform", trainable=True,
                                         build=lambda sr: torch.nn.Identity()),),
        fold=fold,
        problem=Problem(task=get_task("av-regression"), labels=(), budget=BUDGETS["smoke"],
                        sample_rate=RATE),
        seed=0,
    )  # fmt: skip
