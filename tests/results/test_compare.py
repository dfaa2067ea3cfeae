"""``merbench compare RUN_A RUN_B``: paired differences over the same folds, B minus A."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from merbench.cli import main
from merbench.errors import RunError
from merbench.evaluation.stats import corrected_resampled_ttest, mean_ci
from merbench.results.compare import compare_runs
from merbench.results.summaries import cells_frame, read_tables
from tests.helpers.stores import fake_store


def _folds(url, candidate):
    frame = cells_frame(read_tables([url], names=("cells",))["cells"])
    return frame[frame["candidate"] == candidate].sort_values("fold")["r2_mean"].to_numpy()


def test_the_paired_difference_is_b_minus_a_over_the_same_folds(tmp_path):
    before = fake_store(tmp_path / "a", {"ridge": 0.5, "svr": 1.0})
    after = fake_store(tmp_path / "b", {"ridge": 1.5, "svr": 1.0, "mlp": 0.2})
    found = {d.candidate: d for d in compare_runs(before, after)}
    assert set(found) == {"ridge", "svr"}  # mlp is in one run only
    ridge = found["ridge"]
    a, b = _folds(before, "ridge"), _folds(after, "ridge")
    mean, low, high = mean_ci(b - a, test_train_ratio=0.5)  # 3 folds: n_test / n_train = 1/2
    assert (ridge.diff, ridge.ci_low, ridge.ci_high) == pytest.approx((mean, low, high))
    assert ridge.p_value == pytest.approx(corrected_resampled_ttest(b, a, 0.5)[1])
    assert ridge.mean_a == pytest.approx(a.mean()) and ridge.mean_b == pytest.approx(b.mean())
    assert ridge.diff < 0 and ridge.metric == "r2_mean" and ridge.direction == "maximize"
    assert ridge.n_folds == 3 and ridge.split == "grouped"
    # pooled per-track predictions: the paired group bootstrap, B - A as well
    assert ridge.pooled_b < ridge.pooled_a
    assert ridge.pooled_diff == pytest.approx(ridge.pooled_b - ridge.pooled_a)
    assert ridge.pooled_low <= ridge.pooled_diff <= ridge.pooled_high
    assert ridge.pooled_p < 0.05


def test_runs_split_differently_are_refused_in_one_line(tmp_path):
    before = fake_store(tmp_path / "a", {"ridge": 0.5})
    after = fake_store(tmp_path / "b", {"ridge": 0.5}, split="other")
    with pytest.raises(RunError, match=r"data/av-regression \(grouped\) was split into other"):
        compare_runs(before, after)
    elsewhere = fake_store(tmp_path / "c", {"ridge": 0.5}, dataset="more")
    with pytest.raises(RunError, match="no dataset, task and split in common"):
        compare_runs(before, elsewhere)
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


def test_compare_prints_a_table_and_json(tmp_path):
    fake_store(tmp_path / "a", {"ridge": 0.5})
    fake_store(tmp_path / "b", {"ridge": 0.5})  # the same numbers: no difference
    args = ["compare", str(tmp_path / "a"), str(tmp_path / "b")]
    table = CliRunner().invoke(main, args, terminal_width=200)
    assert table.exit_code == 0, table.output
    assert "ridge" in table.output and "+0.000" in table.output
    done = CliRunner().invoke(main, [*args, "--json"])
    assert done.exit_code == 0, done.output
    [record] = json.loads(done.output)
    assert record["candidate"] == "ridge" and record["diff"] == 0.0
    assert record["p_value"] == 1.0 and np.isclose(record["pooled_diff"], 0.0)
