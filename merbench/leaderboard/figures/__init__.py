"""The leaderboard's figures, written as inline SVG without a plotting library.

- ``svg``: shapes, axes and the ``Plot`` record every figure is.
- ``plots``: forest plots of scores and rank comparisons; ``folds``: per-fold scores;
  ``studies``: what a candidate's Optuna studies show (importance, parameter against value).
"""
