"""Planning --split transfer: the pairs of a run, and each dataset's own protocols beside them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from merbench.errors import ConfigError
from merbench.pipeline.plan import protocols_for, transfer_pairs


def _dataset(name, split="grouped"):
    return SimpleNamespace(name=name, split=split)


def test_transfer_runs_each_dataset_under_grouped_folds_too():
    assert protocols_for(_dataset("a", "official"), ("transfer",)) == ("grouped",)
    assert protocols_for(_dataset("a"), ("random", "transfer")) == ("random", "grouped")
    assert protocols_for(_dataset("a", "official"), ()) == ("official",)
    with pytest.raises(ConfigError, match="Did you mean 'transfer'"):
        protocols_for(_dataset("a"), ("transfr",))


def test_pairs_are_ordered_and_share_a_task():
    datasets = [_dataset("deam"), _dataset("fourq"), _dataset("pmemo")]
    tasks = {
        "deam": ("av-regression", "quadrant"),
        "fourq": ("quadrant",),
        "pmemo": ("av-regression",),
    }
    assert transfer_pairs(datasets, tasks) == (
        ("deam", "fourq", "quadrant"),
        ("deam", "pmemo", "av-regression"),
        ("fourq", "deam", "quadrant"),
        ("pmemo", "deam", "av-regression"),
    )


def test_transfer_without_two_datasets_sharing_a_task_is_refused():
    with pytest.raises(ConfigError, match="needs two datasets of the run that share a task"):
        transfer_pairs([_dataset("synth")], {"synth": ("av-regression",)})
    with pytest.raises(ConfigError, match="longer than 64 characters"):
        transfer_pairs(
            [_dataset("a" * 32), _dataset("b" * 32)], {"a" * 32: ("q",), "b" * 32: ("q",)}
        )
