"""Progress: the time a run has left from the expected cost of its cells, and the cell line."""

from __future__ import annotations

import pytest

from merbench.pipeline.progress import Step, seconds_left


def test_the_time_left_is_the_expected_cost_of_the_cells_left_not_their_count():
    expected = {"cnn": 100.0, "mean": 1.0}
    # 3 cheap cells out of 48 are done: 45 cells left, most of them long ones.
    left = ["cnn"] * 40 + ["mean"] * 5
    assert seconds_left(left, expected, {}) == pytest.approx(4005.0)
    # Ten seconds before the end, one cheap cell is left, not an average cell.
    assert seconds_left(["mean"], expected, {"cnn": [100.0] * 40}) == pytest.approx(1.0)


def test_finished_cells_replace_their_candidates_estimate_and_scale_the_others():
    expected = {"cnn": 100.0, "ridge": 10.0}
    measured = {"ridge": [20.0, 20.0]}  # twice as slow as estimated on this machine
    assert seconds_left(["ridge", "cnn"], expected, measured) == pytest.approx(20.0 + 200.0)
    assert seconds_left(["ridge", "cnn"], expected, measured, workers=2) == pytest.approx(110.0)
    assert seconds_left([], expected, measured) == 0.0


def test_the_cell_line_names_the_trial_and_epoch_with_their_totals():
    step = Step(trial=2, trials=4, epoch=3, epochs=6, value=0.5)
    assert step.text() == "trial 2/4, epoch 3/6"
